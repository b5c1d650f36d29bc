"""Entity matching: boundaries, case, weak aliases and context, exclusions, topics, offsets."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from watcher.config import Entity, Topic, load_config
from watcher.pipeline.match import Matcher
from watcher.text.clean import html_to_text

ROOT = Path(__file__).resolve().parent.parent
SHY = "\u00ad"

MISTRAL = Entity(
    "Mistral AI",
    ("Mistral AI", "Mixtral"),
    weak_aliases=("Mistral", "Le Chat"),
    context=("LLM", "intelligence artificielle", "künstliche Intelligenz", "startup"),
    exact_context=("AI", "IA", "KI"),
    exclude=("Mistral-class",),
)
MATCHER = Matcher(
    [
        Entity("Microsoft", ("Microsoft",), exact_aliases=("MSFT",)),
        Entity("OpenAI", ("OpenAI",)),
        MISTRAL,
        Entity("Société Générale", ("Société Générale",)),
    ],
    [
        Topic("competition", ("antitrust", "abus de position dominante", "Wettbewerb")),
        Topic("ai-act", ("AI Act", "KI-Verordnung")),
    ],
)


def entities(text: str, title: str = "", matcher: Matcher = MATCHER) -> list[str]:
    return [m.entity for m in matcher.match(title, text)]


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("OpenAI's new model", "OpenAI"),
        ("OpenAI’s new model", "OpenAI"),
        ("les ambitions d’OpenAI", "OpenAI"),
        ("l'OpenAI de Sam Altman", "OpenAI"),
        ("trending: #OpenAI", "OpenAI"),
        ("a reply from @Microsoft today", "Microsoft"),
        ("der Microsoft-Konzern zahlt", "Microsoft"),
        ("der OpenAI-Chef sagt", "OpenAI"),
        ("the plaintiff (Microsoft) appealed", "Microsoft"),
        ("«OpenAI» et “Microsoft”", "OpenAI"),
        ("Microsoft—OpenAI deal", "Microsoft"),
        ("MICROSOFT FINED", "Microsoft"),
        ("SOCIETE GENERALE and Societe Generale", "Société Générale"),
        ("Société\nGénérale", "Société Générale"),
        ("Société\u00a0Générale", "Société Générale"),
        ("Société    Générale", "Société Générale"),
        (f"Micro{SHY}soft", "Microsoft"),
        ("Open\u200bAI", "OpenAI"),
        ("MSFT falls 2%", "Microsoft"),
    ],
)
def test_hard_positives(text, entity):
    assert entity in entities(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("the OpenAIRE consortium", id="OpenAIRE"),
        pytest.param("microsoftonline outage", id="glued-word"),
        pytest.param("login.microsoftonline.com outage", id="glued-word-in-domain"),
        pytest.param("Macrosoft results", id="Macrosoft"),
        pytest.param("why open AI standards matter", id="generic-open-AI"),
        pytest.param("see openai.com/blog", id="domain"),
        pytest.param("mail press@microsoft.com", id="e-mail"),
        pytest.param("www.microsoft.com", id="subdomain"),
        pytest.param("pip install msft-identity", id="ticker-lowercase"),
        pytest.param("OpenAI2 and XOpenAI and Open_AI_", id="digits-letters"),
    ],
)
def test_hard_negatives(text):
    assert entities(text) == []


def test_open_ai_matches_only_when_written_as_an_alias():
    assert entities("open AI standards") == []
    loose = Matcher([Entity("OpenAI", ("OpenAI", "Open AI"))])
    assert entities("open AI standards", matcher=loose) == ["OpenAI"]
    exact_only = Matcher([Entity("OpenAI", ("OpenAI",), exact_aliases=("Open AI",))])
    assert entities("open AI standards", matcher=exact_only) == []
    assert entities("Open AI announced", matcher=exact_only) == ["OpenAI"]


def test_inline_markup_does_not_split_a_mention():
    text = html_to_text("<p>The deal between Micro<b>soft</b> and Open<i>AI</i>.</p>")
    assert entities(text) == ["Microsoft", "OpenAI"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Le mistral souffle sur la Provence", id="wind"),
        pytest.param("Le chat de la voisine a disparu", id="the-cat"),
        pytest.param("Le sindaco scrive ai cittadini: il Mistral resta chiuso", id="it-ai"),
        pytest.param("J'ai vu le Mistral quitter Toulon", id="fr-j'ai"),
        pytest.param("The Mistral AIR show", id="context-on-boundaries"),
        pytest.param("Mistral-class ships: an AI for the navy", id="excluded"),
    ],
)
def test_weak_alias_needs_a_context_term(text):
    assert entities(text) == []


@pytest.mark.parametrize(
    ("text", "context"),
    [
        ("La start-up Mistral et l'intelligence artificielle", "intelligence artificielle"),
        ("Mistral: KÜNSTLICHE INTELLIGENZ aus Paris", "KÜNSTLICHE INTELLIGENZ"),
        ("Le Chat, l'assistant d'IA", "IA"),
        ("KI-Startup Mistral", "KI"),
    ],
)
def test_weak_alias_with_context_counts_and_says_which(text, context):
    (mention,) = MATCHER.match("", text)
    assert (mention.entity, mention.weak, mention.confirmed_by) == ("Mistral AI", True, context)


def test_exclusion_vetoes_only_what_it_overlaps():
    text = "The Mistral-class carrier. Separately, Mistral released an LLM."
    (mention,) = MATCHER.match("", text)
    assert mention.start == text.index("Mistral released")
    analysis = MATCHER.analyse("", "Mistral-class ships and an LLM")
    assert analysis.mentions == []
    assert [why for _, _, why in analysis.rejected] == ["vetoed by exclude 'Mistral-class'"]


def test_strong_alias_needs_no_context_and_wins_at_the_same_place():
    (mention,) = MATCHER.match("", "Mistral AI raises money")
    assert (mention.matched, mention.kind, mention.confirmed_by) == ("Mistral AI", "alias", None)


def test_mention_keeps_original_text_offsets_and_a_marked_snippet():
    text = f"Nomination chez Micro{SHY}soft\u00a0France, après Straße."
    (mention,) = MATCHER.match("Unrelated title", text)
    assert mention.field == "text"
    assert text[mention.start : mention.end] == mention.matched == f"Micro{SHY}soft"
    assert mention.alias == "Microsoft"
    assert f"**Micro{SHY}soft**" in mention.marked


def test_title_mention_comes_first():
    (mention,) = MATCHER.match("OpenAI’s board", "The board of OpenAI met.")
    assert (mention.field, mention.start, mention.end) == ("title", 0, 6)


def test_exact_alias_keeps_case_and_offsets():
    (mention,) = MATCHER.match("", "Shares: MSFT, msft")
    assert (mention.matched, mention.kind, mention.start) == ("MSFT", "exact_alias", 8)


def test_topics_are_recorded_on_every_mention_of_the_item():
    found = MATCHER.match(
        "Wettbewerb: Kartellamt prüft Microsoft", "OpenAI und die KI-Verordnung; ANTITRUST"
    )
    assert {m.entity: m.topics for m in found} == {
        "Microsoft": ("competition", "ai-act"),
        "OpenAI": ("competition", "ai-act"),
    }
    assert MATCHER.analyse("", "abus de position dominante").topics == {
        "competition": ["abus de position dominante"]
    }


def test_one_mention_per_entity_in_config_order():
    found = MATCHER.match("", "OpenAI, Microsoft, OpenAI again, Microsoft again")
    assert [m.entity for m in found] == ["Microsoft", "OpenAI"]


def test_matcher_without_entities_matches_nothing():
    assert Matcher([]).match("OpenAI", "Microsoft") == []


def test_labelled_set_precision_and_recall():
    """The labelled set (six languages, hard cases, real feed text) with the starter config."""
    spec = importlib.util.spec_from_file_location(
        "match_quality", ROOT / "benchmarks" / "match_quality.py"
    )
    assert spec and spec.loader
    quality = importlib.util.module_from_spec(spec)
    sys.modules["match_quality"] = quality  # dataclasses look their module up there
    spec.loader.exec_module(quality)
    items = quality.load_labelled()
    assert len(items) >= 240
    assert {i["lang"] for i in items} == {"en", "fr", "de", "es", "it", "pt"}
    config = load_config(ROOT / "watcher" / "starter.toml", env={})
    scores = quality.score(Matcher(config.entities, config.topics), items)
    assert scores.overall.precision >= 0.98, scores.misses
    assert scores.overall.recall >= 0.98, scores.misses


def test_a_title_mention_takes_its_snippet_from_the_text():
    matcher = Matcher([Entity("OpenAI", ("OpenAI",))])
    [title_hit] = matcher.match("OpenAI board changes", "The Commission reviews the changes.")
    assert title_hit.field == "title" and title_hit.snippet == "The Commission reviews the changes."
    assert title_hit.marked == "**OpenAI** board changes"  # the mention itself, marked in place
    [bare] = matcher.match("OpenAI board changes", "")
    assert bare.snippet == "OpenAI board changes"
