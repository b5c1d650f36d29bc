"""Config keys of the entity model and topics, and their validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.config import Channel, load_config, parse_config
from watcher.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
PATH = Path("/etc/regwatch/regwatch.toml")


def parse(text: str):
    return parse_config(text, PATH, env={})


def error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return str(info.value)


def test_full_entity_model_is_read():
    config = parse(
        """
        [[entities]]
        name = "Mistral AI"
        aliases = ["Mistral AI", "Mistral Large", "Mixtral"]
        exact_aliases = []
        weak_aliases = ["Mistral", "Le Chat"]
        context = ["LLM", "intelligence artificielle"]
        exact_context = ["AI", "IA", "KI"]
        exclude = ["Mistral-class"]

        [[topics]]
        name = "competition"
        terms = ["antitrust", "concurrence"]
        """
    )
    (e,) = config.entities
    assert e.weak_aliases == ("Mistral", "Le Chat")
    assert e.exact_context == ("AI", "IA", "KI") and e.exclude == ("Mistral-class",)
    assert [(t.name, t.terms) for t in config.topics] == [
        ("competition", ("antitrust", "concurrence"))
    ]


def test_exact_aliases_alone_are_enough():
    config = parse('[[entities]]\nname = "Microsoft"\nexact_aliases = ["MSFT"]\n')
    assert config.entities[0].aliases == () and config.entities[0].exact_aliases == ("MSFT",)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        pytest.param(
            '[[entities]]\nname = "X"\n',
            "entities[0].aliases: missing required key",
            id="no-alias",
        ),
        pytest.param(
            '[[entities]]\nname = "X"\naliases = [" "]\n',
            "entities[0].aliases: needs at least one non-empty alias",
            id="blank-alias",
        ),
        pytest.param(
            '[[entities]]\nname = "X"\naliases = ["X"]\nweak_alias = ["x"]\n',
            "entities[0].weak_alias: unknown key\n  hint: did you mean 'weak_aliases'?",
            id="typo",
        ),
        pytest.param(
            '[[entities]]\nname = "X"\naliases = ["X SA"]\nweak_aliases = ["X"]\n',
            "entities[0].weak_aliases: weak aliases count only with a context term",
            id="weak-without-context",
        ),
        pytest.param(
            '[[entities]]\nname = "A"\naliases = ["Alpha"]\n'
            '[[entities]]\nname = "B"\naliases = ["Beta", "ALPHA"]\n',
            "entities[1].aliases[1]: alias 'ALPHA' is also an alias of 'A' (entities[0].aliases[0])",
            id="alias-in-two-entities",
        ),
        pytest.param(
            '[[entities]]\nname = "A"\naliases = ["Alpha"]\n'
            '[[entities]]\nname = "B"\naliases = ["Beta"]\nweak_aliases = ["Alphà"]\n'
            'context = ["x"]\n',
            "entities[1].weak_aliases[0]: alias 'Alphà' is also an alias of 'A'",
            id="weak-alias-of-another-entity",
        ),
        pytest.param(
            '[[entities]]\nname = "A"\naliases = ["x"]\ncontext = "AI"\n',
            "entities[0].context: must be a list of a string, not str",
            id="wrong-type",
        ),
        pytest.param(
            '[[topics]]\nname = "competition"\n',
            "topics[0].terms: missing required key",
            id="topic-without-terms",
        ),
        pytest.param(
            '[[topics]]\nname = "c"\nterms = ["x"]\nterm = ["y"]\n',
            "topics[0].term: unknown key\n  hint: did you mean 'terms'?",
            id="topic-typo",
        ),
        pytest.param(
            '[[topics]]\nname = "c"\nterms = ["x"]\n[[topics]]\nname = "c"\nterms = ["y"]\n',
            "topics[1].name: duplicate name 'c'",
            id="duplicate-topic",
        ),
        pytest.param(
            '[[topics]]\nname = "competition"\nterms = ["x"]\n'
            '[[channels]]\nname = "legal"\nurl = "json://127.0.0.1:9/hook"\n'
            'topics = ["competiton"]\n',
            "channels[0].topics: unknown topic 'competiton'\n  hint: did you mean 'competition'?",
            id="channel-unknown-topic",
        ),
    ],
)
def test_errors_name_the_file_and_key(toml, expected):
    message = error(toml)
    assert message.startswith(f"{PATH}: ")
    assert expected in message


def test_same_alias_twice_in_one_list_is_harmless():
    config = parse('[[entities]]\nname = "A"\naliases = ["Alpha", "alpha"]\n')
    assert config.entities[0].aliases == ("Alpha", "alpha")


def test_channel_topics_filter():
    config = parse(
        '[[topics]]\nname = "competition"\nterms = ["antitrust"]\n'
        '[[topics]]\nname = "ai-act"\nterms = ["AI Act"]\n'
        '[[channels]]\nname = "legal"\nurl = "json://127.0.0.1:9/hook"\n'
        'topics = ["competition"]\n'
        '[[channels]]\nname = "all"\nurl = "json://127.0.0.1:9/hook"\n'
    )
    legal, everything = config.channels
    assert legal.topics == ("competition",) and everything.topics is None
    assert legal.wants("Microsoft", ("ai-act", "competition"))
    assert not legal.wants("Microsoft", ("ai-act",))
    assert not legal.wants("Microsoft")
    assert everything.wants("Microsoft") and everything.wants("Microsoft", ("ai-act",))
    assert not Channel("c", "json://x", entities=("OpenAI",), topics=("ai-act",)).wants(
        "Microsoft", ("ai-act",)
    )


def test_starter_config_ships_the_entity_model_and_the_lexicon():
    config = load_config(ROOT / "watcher" / "starter.toml", env={})
    mistral = next(e for e in config.entities if e.name == "Mistral AI")
    assert "Mistral" in mistral.weak_aliases and mistral.exact_weak_aliases == ("Le Chat",)
    assert {"AI", "IA", "KI"} <= set(mistral.exact_context)
    assert "Mistral-class" in mistral.exclude
    names = {t.name for t in config.topics}
    assert {
        "competition",
        "merger-control",
        "dma-dsa",
        "ai-act",
        "data-protection",
        "state-aid",
        "investigations-fines",
        "partnerships-investments",
    } == names
    terms = {t.name: set(t.terms) for t in config.topics}
    # One term of each language in the competition lexicon (EN, FR, DE, ES, IT).
    assert {
        "antitrust",
        "abus de position dominante",
        "Kartellrecht",
        "abuso de posición dominante",
        "abuso di posizione dominante",
    } <= terms["competition"]


def test_variants_are_on_unless_an_entity_turns_them_off():
    config = parse(
        '[[entities]]\nname = "OpenAI"\naliases = ["OpenAI"]\n\n'
        '[[entities]]\nname = "Acme"\naliases = ["AcmeCorp"]\nvariants = false\n'
    )
    assert [e.variants for e in config.entities] == [True, False]
    message = error('[[entities]]\nname = "OpenAI"\naliases = ["OpenAI"]\nvariants = "no"\n')
    assert "entities[0].variants: must be true or false" in message


def test_a_star_ends_a_word_of_context_exclude_and_topic_terms():
    config = parse(
        '[[entities]]\nname = "Mistral AI"\naliases = ["Mistral AI"]\nweak_aliases = ["Mistral"]\n'
        'context = ["künstlich* Intelligenz"]\nexclude = ["Mistral-Klass*"]\n\n'
        '[[topics]]\nname = "ai"\nterms = ["Sprachmodell*"]\n'
    )
    assert config.entities[0].context == ("künstlich* Intelligenz",)
    assert config.topics[0].terms == ("Sprachmodell*",)


@pytest.mark.parametrize(
    ("keys", "where", "message", "hint"),
    [
        pytest.param(
            'aliases = ["Chat*"]',
            "entities[0].aliases[0]",
            "'Chat*': '*' is only for context, exclude and topic terms",
            "variants already cover spacing",
            id="alias",
        ),
        pytest.param(
            'aliases = ["X"]\nexact_context = ["Intelligen*"]',
            "entities[0].exact_context[0]",
            "'*' is only for context, exclude and topic terms",
            "move the term to context",
            id="exact-context",
        ),
        pytest.param(
            'aliases = ["X"]\nexclude = ["art* intelligence"]',
            "entities[0].exclude[0]",
            "the prefix 'art' before '*' needs at least 4 letters",
            'end a word of 4 letters or more: "künstlich* Intelligenz"',
            id="short-prefix",
        ),
        pytest.param(
            'aliases = ["X"]\nweak_aliases = ["Y"]\ncontext = ["intelli*gence"]',
            "entities[0].context[0]",
            "'intelli*gence': '*' may only end a word",
            "4 letters or more",
            id="middle",
        ),
    ],
)
def test_a_misplaced_star_names_the_key_and_what_to_do(keys, where, message, hint):
    with pytest.raises(ConfigError) as info:
        parse(f'[[entities]]\nname = "E"\n{keys}\n')
    assert f"{PATH}: {where}: " in str(info.value) and message in str(info.value)
    assert hint in info.value.hint


def test_a_short_prefix_in_a_topic_term_is_an_error():
    message = error('[[topics]]\nname = "ai"\nterms = ["KI*"]\n')
    assert "topics[0].terms[0]: 'KI*': the prefix 'KI' before '*' needs at least 4" in message


def test_exact_weak_aliases_need_context_and_name_one_entity():
    config = parse(
        '[[entities]]\nname = "Mistral AI"\naliases = ["Mistral AI"]\n'
        'exact_weak_aliases = ["Le Chat"]\nexact_context = ["IA"]\n'
    )
    assert config.entities[0].exact_weak_aliases == ("Le Chat",)
    message = error(
        '[[entities]]\nname = "Mistral AI"\naliases = ["Mistral AI"]\nexact_weak_aliases = ["Le Chat"]\n'
    )
    assert "entities[0].exact_weak_aliases: weak aliases count only with a context term" in message
    message = error(
        '[[entities]]\nname = "A"\naliases = ["A"]\nweak_aliases = ["Le Chat"]\ncontext = ["x"]\n\n'
        '[[entities]]\nname = "B"\naliases = ["B"]\nexact_weak_aliases = ["Le Chat"]\ncontext = ["x"]\n'
    )
    assert "entities[1].exact_weak_aliases[0]: alias 'Le Chat' is also an alias of 'A'" in message
