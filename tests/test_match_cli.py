"""The matching commands end to end: match, hits with marked mentions, explain, rematch."""

from __future__ import annotations

import json

import pytest
from conftest import rss, wait_until

from watcher.store import Store
from watcher.store import base as store_module

pytestmark = pytest.mark.usefixtures("backend")


MISTRAL_WEAK = """
[[entities]]
name = "Mistral AI"
aliases = ["Mistral AI"]
weak_aliases = ["Mistral"]
context = ["LLM"]
exact_context = ["IA"]
exclude = ["Mistral-class"]
"""
TOPICS = """
[[topics]]
name = "competition"
terms = ["antitrust", "concurrence"]
"""
ITEMS = [
    {
        "title": "Antitrust: Commission opens proceedings",
        "link": "https://ec.example.eu/1",
        "html": "<p>The case concerns Microsoft and Open<b>AI</b>.</p>",
    },
    {
        "title": "Paris startup releases a model",
        "link": "https://ec.example.eu/2",
        "html": "<p>Mistral says its LLM beats rivals.</p>",
    },
    {
        "title": "OpenAI publishes a report",
        "link": "https://ec.example.eu/3",
        "html": "<p>No regulatory angle.</p>",
    },
]


def hits_json(run_cli, config):
    result = run_cli(config, "hits", "--format", "json", "--limit", "0")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# -- regwatch match ------------------------------------------------------------------------------


@pytest.mark.one_store
def test_match_explains_a_text_without_database_or_network(make_config, run_cli, tmp_path):
    config = make_config(entities=MISTRAL_WEAK, extra=TOPICS)
    result = run_cli(
        config, "match", "--title", "Autorité de la concurrence", "Mistral lance une IA"
    )
    assert result.exit_code == 0, result.output
    assert "Mistral AI: matched 'Mistral' in the text, characters 0-7" in result.output
    assert "by weak alias (needs a context term) 'Mistral'" in result.output
    assert "confirmed by context term 'IA'" in result.output
    assert "**Mistral** lance une IA" in result.output
    assert "topic competition: 'concurrence'" in result.output
    assert not (tmp_path / "regwatch.db").exists()


@pytest.mark.one_store
def test_match_reads_standard_input_and_says_why_nothing_counted(make_config, run_cli):
    config = make_config(entities=MISTRAL_WEAK)
    result = run_cli(config, "match", input="<p>Le mistral souffle; un navire Mistral-class.</p>")
    assert result.exit_code == 1
    assert "no entity matched" in result.output
    assert "not counted: Mistral AI 'mistral' in the text" in result.output
    assert "weak alias without a context term" in result.output
    assert "vetoed by exclude 'Mistral-class'" in result.output


# -- hits, explain -----------------------------------------------------------------------------


@pytest.fixture
def polled(feed_server, make_config, run_cli):
    """A config with weak aliases and topics, polled once (first poll: stored, not alerted)."""
    feed_server.routes["/eu.xml"] = {"body": rss(ITEMS)}
    config = make_config(
        {"eu": feed_server.url("/eu.xml")}, entities=MISTRAL_WEAK + _plain("OpenAI"), extra=TOPICS
    )
    result = run_cli(config, "poll")
    assert result.exit_code == 0, result.output
    return config


def _plain(*names: str) -> str:
    return "".join(f'\n[[entities]]\nname = "{n}"\naliases = ["{n}"]\n' for n in names)


def test_hits_show_where_the_mention_is(polled, run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # the table fits the terminal; make it wide
    table = run_cli(polled, "hits")
    assert "**Mistral** says its LLM beats rivals." in table.output
    assert "**OpenAI**." in table.output
    rows = {h["link"]: h for h in hits_json(run_cli, polled)}
    weak = rows["https://ec.example.eu/2"]
    assert (weak["kind"], weak["alias"], weak["confirmed_by"]) == ("weak_alias", "Mistral", "LLM")
    first = rows["https://ec.example.eu/1"]
    assert (first["entity"], first["field"], first["matched"]) == ("OpenAI", "text", "OpenAI")
    topics = first["topics"]  # a JSON array (a list once decoded by the store)
    assert (json.loads(topics) if isinstance(topics, str) else topics) == ["competition"]


def test_explain_prints_why_a_hit_matched(polled, run_cli):
    weak = next(h for h in hits_json(run_cli, polled) if h["entity"] == "Mistral AI")
    result = run_cli(polled, "explain", str(weak["id"]))
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"hit {weak['id']}: Mistral AI" in out
    assert "matched 'Mistral' in the text, characters 0-7" in out
    assert "by weak alias (needs a context term) 'Mistral'" in out
    assert "confirmed by context term 'LLM'" in out
    assert "topics: none" in out
    assert "current config: still matches" in out


def test_explain_unknown_hit_is_a_clear_error(polled, run_cli):
    result = run_cli(polled, "explain", "999")
    assert result.exit_code == 1
    assert "no hit with id 999" in result.output and "regwatch hits" in result.output


@pytest.mark.empty_database
def test_explain_works_on_hits_stored_before_the_migration(database, monkeypatch, make_config):
    db = database
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:2])
    old = Store(db)
    old.engine.execute(
        "INSERT INTO items (source, key, title, text, discovered) "
        "VALUES ('s', 'k', 'T', 'Hello Microsoft', 'x')"
    )
    old.engine.execute(
        'INSERT INTO hits (item_id, entity, matched, field, start, "end", snippet, created) '
        "VALUES (1, 'Microsoft', 'Microsoft', 'text', 6, 15, 'Hello Microsoft', '2024-01-01')"
    )
    old.close()
    monkeypatch.undo()

    from watcher.config import load_config
    from watcher.pipeline.explain import explain_hit
    from watcher.pipeline.match import Matcher

    store = Store(db)  # applies 050_hit_details
    assert "050_hit_details" in store.migrations()
    config = load_config(make_config())
    hit = store.get_hit(1)
    assert hit is not None
    lines = explain_hit(hit, store.item_text(hit.item_id), Matcher(config.entities))
    assert "  Hello **Microsoft**" in lines
    assert "current config: still matches" in lines


# -- rematch -------------------------------------------------------------------------------------


def test_rematch_adds_retroactive_hits_and_reports_lost_ones(polled, run_cli, webhook, make_config):
    before = {(h["entity"], h["link"]) for h in hits_json(run_cli, polled)}
    assert ("Microsoft", "https://ec.example.eu/1") not in before
    # The watchlist changes: Microsoft is added, Mistral AI loses its weak alias.
    config = make_config(
        channels={"hook": webhook.url},
        entities=_plain("Mistral AI", "OpenAI", "Microsoft"),
        extra=TOPICS,
    )
    result = run_cli(config, "rematch")
    assert result.exit_code == 0, result.output
    assert (
        "3 items matched again: 1 new hits (not alerted), 1 hits no longer match" in result.output
    )
    assert "new" in result.output and "no longer matches" in result.output

    rows = {(h["entity"], h["link"]): h for h in hits_json(run_cli, config)}
    new = rows[("Microsoft", "https://ec.example.eu/1")]
    assert (new["retroactive"], new["alerted"]) == (1, 0)
    lost = rows[("Mistral AI", "https://ec.example.eu/2")]  # kept, marked
    assert lost["unmatched_at"]
    assert webhook.posts == []
    assert "by `regwatch rematch`" in run_cli(config, "explain", str(new["id"])).output
    assert "no longer matches" in run_cli(config, "explain", str(lost["id"])).output

    again = run_cli(config, "rematch", "--since", "2024-01-01")
    assert "3 items matched again: 0 new hits (not alerted), 1 hits no longer match" in again.output
    assert "0 items matched again" in run_cli(config, "rematch", "--since", "30d").output


def test_rematch_alert_queues_deliveries_for_channels_that_want_them(
    polled, feed_server, run_cli, webhook, make_config, database
):
    config = make_config(
        {"eu": feed_server.url("/eu.xml")},
        entities=MISTRAL_WEAK + _plain("OpenAI", "Microsoft"),
        extra=TOPICS
        + f'\n[[channels]]\nname = "legal"\nurl = "{webhook.url}"\ntopics = ["competition"]\n'
        + f'\n[[channels]]\nname = "all"\nurl = "{webhook.url}"\nentities = ["Microsoft"]\n',
    )
    result = run_cli(config, "rematch", "--alert")
    assert "1 new hits (2 alerts queued)" in result.output, result.output
    run_cli(config, "poll")  # the dispatcher sends pending deliveries
    wait_until(lambda: len(webhook.posts) == 2, what="two alerts")
    titles = [p["title"] for p in webhook.posts]
    assert titles == ["[regwatch] Microsoft: Antitrust: Commission opens proceedings"] * 2
    store = Store(database, readonly=True)
    sent = store.engine.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'sent'").rows
    assert sent == [(2,)]


@pytest.mark.empty_database
def test_hits_read_an_older_database_without_changing_it(
    database, monkeypatch, make_config, run_cli
):
    config = make_config()
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:2])
    Store(database).close()  # as an older regwatch left it
    monkeypatch.undo()
    result = run_cli(config, "hits", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == []
    assert "050_hit_details" not in Store(database, readonly=True).migrations()  # never migrates


def test_a_channel_with_topics_gets_only_hits_with_those_topics(
    feed_server, webhook, make_config, run_cli
):
    feed_server.routes["/eu.xml"] = {"body": rss(ITEMS)}
    config = make_config(
        {"eu": feed_server.url("/eu.xml")},
        entities=MISTRAL_WEAK + _plain("OpenAI"),
        defaults='timeout = "5s"\nalert_first_poll = true',
        extra=TOPICS
        + f'\n[[channels]]\nname = "legal"\nurl = "{webhook.url}"\ntopics = ["competition"]\n',
    )
    result = run_cli(config, "poll")
    assert result.exit_code == 0, result.output
    assert "alerts: 1 sent" in result.output
    assert [p["title"] for p in webhook.posts] == [
        "[regwatch] OpenAI: Antitrust: Commission opens proceedings"
    ]
