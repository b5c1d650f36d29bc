"""Matching on text as real feeds publish it: broken encodings, spacing and hyphen variants,
inflected context terms, case-exact weak aliases, digits touching a name.

Snippets are written like the items of the outlets named beside them (en, fr, de, it, es,
pt); the mojibake is made the way it happens upstream, UTF-8 read as Windows-1252.
"""

from __future__ import annotations

import json

import pytest
from conftest import poll_once, rss, stored_rows

from watcher.config import Entity, Topic
from watcher.pipeline.match import Matcher
from watcher.pipeline.work import clean_item
from watcher.text.repair import needs_repair, repair_text

MICROSOFT = Entity("Microsoft", ("Microsoft",))
OPENAI = Entity("OpenAI", ("OpenAI", "ChatGPT"))
MISTRAL = Entity(
    "Mistral AI",
    ("Mistral AI",),
    weak_aliases=("Mistral",),
    context=("künstliche Intelligenz", "intelligence artificielle"),
    exact_context=("IA", "KI"),
)
MATCHER = Matcher([MICROSOFT, OPENAI, MISTRAL])


def broken(text: str) -> str:
    """`text` as it reads after UTF-8 was decoded as Windows-1252 somewhere upstream."""
    return text.encode("utf-8").decode("cp1252")


def found(title: str, html: str = "", matcher: Matcher = MATCHER) -> list[str]:
    """Entities matched in an item cleaned and repaired the way a poll does it."""
    return [m.entity for m in matcher.match(*clean_item(title, html))]


# --- broken encodings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "entity"),
    [
        pytest.param("Microsoft’s Teams commitments made binding", "Microsoft", id="en-reuters"),
        pytest.param("«Le Chat» de Mistral : l’IA française", "Mistral AI", id="fr-lesechos"),
        pytest.param("Mistral: Hoffnung für künstliche Intelligenz", "Mistral AI", id="de-context"),
        pytest.param("Microsoft’s Copilot arriva in Italia", "Microsoft", id="it-sole24ore"),
        pytest.param("OpenAI’s Sora llega a Europa", "OpenAI", id="es-elconfidencial"),
        pytest.param("Microsoft’s investimento em Portugal", "Microsoft", id="pt-eco"),
    ],
)
def test_a_name_behind_mojibake_is_found_once_repaired(title, entity):
    assert entity not in [m.entity for m in MATCHER.match(broken(title), "")]  # as published
    assert found(broken(title)) == [entity]


def test_repair_restores_the_text_and_leaves_clean_text_alone():
    assert repair_text(broken("La société Mistral AI à Paris")) == "La société Mistral AI à Paris"
    assert repair_text("Microsoft&rsquo;s deal") == "Microsoft’s deal"  # escaped twice upstream
    for clean in ["SÃO PAULO", "Ärger über Microsoft", "naïve café", "AT&T", "Straße"]:
        assert repair_text(clean) == clean
    assert not needs_repair("Die Kommission prüft Microsofts Übernahme von Activision.")


def test_mojibake_whose_control_characters_were_lost_is_not_repaired():
    # "â€™" read as Latin-1 is "â\x80\x99"; a feed that drops the controls leaves "â".
    assert repair_text("Microsoft\u00e2\x80\x99s") == "Microsoft’s"
    assert repair_text("Microsoftâs cloud deal") == "Microsoftâs cloud deal"
    assert found("Microsoftâs cloud deal") == []


def test_offsets_point_into_the_repaired_text():
    title, text = clean_item(broken("Rivalité"), broken("<p>L’IA d’OpenAI’s rival</p>"))
    (mention,) = MATCHER.match(title, text)
    assert text == "L’IA d’OpenAI’s rival"
    assert text[mention.start : mention.end] == mention.matched == "OpenAI"


def test_a_poll_stores_the_repaired_title_and_text(feed_server, make_config, run_cli):
    items = [
        {
            "title": broken("Microsoft’s stake in Mistral AI"),
            "link": "https://news.example.com/1",
            "html": broken("<p>The CMA looks at OpenAI’s partner.</p>"),
        }
    ]
    feed_server.routes["/news.xml"] = {"body": rss(items)}
    config = make_config({"news": feed_server.url("/news.xml")})
    poll_once(config)
    (row,) = stored_rows(config, "items")
    assert (row["title"], row["text"]) == (
        "Microsoft’s stake in Mistral AI",
        "The CMA looks at OpenAI’s partner.",
    )
    result = run_cli(config, "hits", "--format", "json", "--limit", "0")
    hits = {h["entity"]: h for h in json.loads(result.output)}
    assert hits["Microsoft"]["matched"] == "Microsoft" and hits["Microsoft"]["field"] == "title"


# --- spacing and hyphen variants ---------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "entity"),
    [
        pytest.param(
            "Italy's watchdog fines Open-AI over Chat GPT data", "OpenAI", id="en-reuters"
        ),
        pytest.param("Schools ban chat-gpt on campus networks", "OpenAI", id="en-lowercase-hyphen"),
        pytest.param("La CNIL s'intéresse à Chat GPT", "OpenAI", id="fr-lemonde"),
        pytest.param("Open-AI-Chef Altman besucht Berlin", "OpenAI", id="de-spiegel"),
        pytest.param("Il Garante privacy blocca Chat GPT", "OpenAI", id="it-sole24ore"),
        pytest.param("La AEPD abre una investigación a CHAT GPT", "OpenAI", id="es-all-caps"),
        pytest.param("Chat-GPT chega às escolas portuguesas", "OpenAI", id="pt-publico"),
        pytest.param("MistralAI lève 600 millions d'euros", "Mistral AI", id="fr-joined"),
        pytest.param("#MistralAI trends after model release", "Mistral AI", id="en-hashtag"),
    ],
)
def test_a_name_written_apart_or_hyphenated_matches_its_alias(title, entity):
    assert found(title) == [entity]


@pytest.mark.parametrize(
    "title",
    [
        pytest.param("Why open AI models matter for Europe", id="en-euractiv"),
        pytest.param("Ils défendent une open AI européenne", id="fr-lesechos"),
        pytest.param(
            "Modelos de IA abiertos: open AI frente a sistemas cerrados", id="es-eldiario"
        ),
        pytest.param("Il chat GPT-style dei ministeri", id="it-lowercase-chat"),
    ],
)
def test_a_spaced_variant_needs_the_alias_capitals(title):
    assert "OpenAI" not in found(title)


def test_explain_says_which_variant_matched():
    from watcher.pipeline.explain import describe_mention

    (mention,) = MATCHER.match("Datenschützer prüfen Chat-GPT", "")
    assert (mention.alias, mention.matched) == ("ChatGPT", "Chat-GPT")
    assert describe_mention(mention)[1] == (
        "  by alias (case and accents ignored) 'ChatGPT' as its variant 'Chat-GPT'"
    )
    (plain,) = MATCHER.match("CHATGPT", "")
    assert "variant" not in describe_mention(plain)[1]


def test_variants_can_be_turned_off_per_entity():
    strict = Matcher([Entity("OpenAI", ("OpenAI", "ChatGPT"), variants=False)])
    assert found("Il Garante blocca Chat GPT", matcher=strict) == []
    assert found("Il Garante blocca ChatGPT", matcher=strict) == ["OpenAI"]


def test_a_spelling_two_entities_could_mean_counts_for_neither_as_a_variant():
    matcher = Matcher([Entity("OpenAI", ("OpenAI",)), Entity("Open AI Lab", ("Open AI",))])
    assert found("Open AI announced", matcher=matcher) == ["Open AI Lab"]
    assert found("Open-AI announced", matcher=matcher) == []  # a variant of both aliases
    assert found("OpenAI announced", matcher=matcher) == ["OpenAI"]


# --- inflected context, exclude and topic terms (a trailing *) --------------------------

INFLECTED = Matcher(
    [
        Entity(
            "Mistral AI",
            ("Mistral AI",),
            weak_aliases=("Mistral",),
            context=(
                "künstlich* Intelligenz",
                "Sprachmodell*",
                "intelligence* artificielle*",
                "modèle* de langage",
                "intelligenz* artificial*",
                "inteligencia* artificial*",
                "inteligênci* artificia*",
                "large language model*",
            ),
            exclude=("Mistral-Klass*",),
        )
    ],
    [Topic("ai-act", ("KI-Verordnung*", "règlement* sur l'IA"))],
)


@pytest.mark.parametrize(
    ("title", "context"),
    [
        pytest.param(
            "Mistral sammelt Milliarden ein – Hoffnung der europäischen künstlichen Intelligenz",
            "künstlichen Intelligenz",
            id="de-faz",
        ),
        pytest.param(
            "Macron wirbt für Mistral und Künstlicher Intelligenz",
            "Künstlicher Intelligenz",
            id="de-zeit",
        ),
        pytest.param("Mistral und die großen Sprachmodelle", "Sprachmodelle", id="de-golem"),
        pytest.param(
            "Mistral, champion des intelligences artificielles génératives",
            "intelligences artificielles",
            id="fr-latribune",
        ),
        pytest.param(
            "Mistral rivalise avec les grands modèles de langage",
            "modèles de langage",
            id="fr-lesechos",
        ),
        pytest.param(
            "Mistral e le intelligenze artificiali europee",
            "intelligenze artificiali",
            id="it-repubblica",
        ),
        pytest.param(
            "Mistral, la apuesta en inteligencias artificiales abiertas",
            "inteligencias artificiales",
            id="es-expansion",
        ),
        pytest.param(
            "Mistral aposta em inteligências artificiais abertas",
            "inteligências artificiais",
            id="pt-expresso",
        ),
        pytest.param(
            "Mistral's new large language models rival GPT-4",
            "large language models",
            id="en-verge",
        ),
    ],
)
def test_an_inflected_context_term_confirms_a_weak_alias(title, context):
    (mention,) = INFLECTED.match(title, "")
    assert (mention.entity, mention.confirmed_by) == ("Mistral AI", context)


@pytest.mark.parametrize(
    "title",
    [
        pytest.param(
            "Der Mistral weht; künstliche Beschneiung in den Alpen", id="de-no-intelligenz"
        ),
        pytest.param("Le mistral et l'intelligentsia provençale", id="fr-prefix-is-a-word"),
        pytest.param(
            "Mistral-Klasse: Frankreichs Hubschrauberträger mit künstlicher Intelligenz",
            id="de-excluded",
        ),
        pytest.param("Il mistral e i modelli di langage", id="it-other-words"),
    ],
)
def test_a_prefix_still_needs_the_rest_of_its_term(title):
    assert INFLECTED.match(title, "") == []


def test_a_starred_topic_term_finds_inflected_forms():
    analysis = INFLECTED.analyse("Neue KI-Verordnungen in Brüssel", "Les règlements sur l'IA")
    assert analysis.topics == {"ai-act": ["KI-Verordnungen", "règlements sur l'IA"]}


# --- exact weak aliases: Le Chat the assistant, le chat the cat --------------------------

LE_CHAT = Matcher(
    [
        Entity(
            "Mistral AI",
            ("Mistral AI",),
            exact_weak_aliases=("Le Chat",),
            context=("chatbot",),
            exact_context=("AI", "IA", "KI"),
        )
    ]
)


@pytest.mark.parametrize(
    "title",
    [
        pytest.param("Le Chat, l'assistant d'IA de Mistral, arrive sur smartphone", id="fr-01net"),
        pytest.param("Mistral's Le Chat adds web search to its AI assistant", id="en-techcrunch"),
        pytest.param("Le Chat: Der KI-Assistent aus Paris im Test", id="de-chip"),
        pytest.param(
            "Le Chat di Mistral arriva su Android: l'assistente IA è gratuito", id="it-hdblog"
        ),
        pytest.param("Le Chat, el asistente de IA francés, llega a España", id="es-xataka"),
        pytest.param("Le Chat, o assistente de IA francês, chega a Portugal", id="pt-publico"),
    ],
)
def test_an_exact_weak_alias_as_written_with_context_counts(title):
    (mention,) = LE_CHAT.match(title, "")
    assert (mention.matched, mention.kind, mention.weak) == ("Le Chat", "exact_weak_alias", True)


@pytest.mark.parametrize(
    "title",
    [
        pytest.param(
            "Une IA sait désormais reconnaître le chat de la maison", id="fr-the-cat-with-IA"
        ),
        pytest.param("Caméras domestiques : l'IA qui surveille le chat", id="fr-20minutes"),
        pytest.param("LE CHAT DE LA VOISINE ET L'IA", id="fr-all-caps"),
        pytest.param("Le Chat est de retour", id="fr-no-context"),
    ],
)
def test_an_exact_weak_alias_ignores_other_cases_and_needs_context(title):
    assert LE_CHAT.match(title, "") == []


def test_a_weak_alias_still_ignores_case_where_exact_weak_does_not():
    loose = Matcher(
        [Entity("Mistral AI", ("Mistral AI",), weak_aliases=("Le Chat",), exact_context=("IA",))]
    )
    assert [m.entity for m in loose.match("Une IA reconnaît le chat", "")] == ["Mistral AI"]
    assert LE_CHAT.match("Une IA reconnaît le chat", "") == []


def test_explain_calls_it_an_exact_weak_alias():
    from watcher.pipeline.explain import describe_mention

    (mention,) = LE_CHAT.match("Le Chat, l'assistant d'IA", "")
    assert describe_mention(mention)[1:3] == [
        "  by exact weak alias (as written, needs a context term) 'Le Chat'",
        "  confirmed by context term 'IA'",
    ]


# --- digits touching a name ----------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        pytest.param("Microsoft365 outage hits European users", id="en-bleepingcomputer"),
        pytest.param("Panne chez Microsoft365 : Outlook et Teams indisponibles", id="fr-01net"),
        pytest.param("Datenschutz: Microsoft365 bleibt umstritten", id="de-heise"),
    ],
)
def test_a_digit_touching_a_name_makes_another_word(title):
    assert found(title, matcher=Matcher([MICROSOFT])) == []


@pytest.mark.parametrize(
    ("title", "matched"),
    [
        pytest.param("Microsoft365 outage hits European users", "Microsoft365", id="en-joined"),
        pytest.param(
            "Microsoft 365: Datenschutzkonferenz bleibt skeptisch", "Microsoft 365", id="de-spaced"
        ),
        pytest.param("Il garante e Microsoft-365 nelle scuole", "Microsoft-365", id="it-hyphen"),
        pytest.param("La AEPD y MICROSOFT365", "MICROSOFT365", id="es-caps"),
    ],
)
def test_a_product_with_digits_matches_when_listed_as_an_alias(title, matched):
    for alias in ("Microsoft 365", "Microsoft365"):
        matcher = Matcher([Entity("Microsoft", ("Microsoft", alias))])
        (mention,) = matcher.match(*clean_item(title, ""))
        assert mention.matched == matched


def test_a_spaced_variant_stays_on_one_line():
    assert found("Tools", "<p>Open</p><p>AI in schools</p>") == []
    assert found("Tools", "<p>Open AI in schools</p>") == ["OpenAI"]
