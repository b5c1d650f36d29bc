"""`regwatch hits --format ndjson|atom|table`: piping, feed readers and the terminal."""

from __future__ import annotations

import io
import json

import feedparser
import pytest

from watcher.output import atom_feed, render

pytestmark = pytest.mark.usefixtures("backend")


def test_ndjson_is_one_hit_per_line_for_piping(hit_config, run_cli):
    as_json = json.loads(run_cli(hit_config, "hits", "--format", "json").output)
    result = run_cli(hit_config, "hits", "--format", "ndjson")
    lines = result.output.strip().split("\n")
    assert [json.loads(line) for line in lines] == as_json
    assert len(lines) == 5


def test_atom_feed_of_an_entity_is_valid_and_complete(hit_config, run_cli):
    result = run_cli(hit_config, "hits", "--entity", "Microsoft", "--format", "atom")
    assert result.exit_code == 0, result.output
    feed = feedparser.parse(io.BytesIO(result.output.encode("utf-8")))
    assert feed.bozo is False, feed.get("bozo_exception")
    assert feed.feed.title == "regwatch hits — entity Microsoft"
    titles = {e.title for e in feed.entries}  # newest hit first: these two were found together
    assert titles == {
        "Microsoft: Commission opens in-depth investigation into Microsoft's investment in Mistral AI",
        "Microsoft: Die Kommission prüft die Beteiligung von Microsoft",
    }
    (first,) = [e for e in feed.entries if e.title.startswith("Microsoft: Commission")]
    assert first.link == "https://ec.example.org/ec1"
    assert first.updated == "2024-02-27T12:00:00Z"
    assert {t.term for t in first.tags} == {"Microsoft", "merger"}
    assert "Microsoft" in first.summary
    assert len({e.id for e in feed.entries}) == 2


def test_atom_feed_per_topic(hit_config, run_cli):
    result = run_cli(hit_config, "hits", "--topic", "antitrust", "--format", "atom")
    feed = feedparser.parse(io.BytesIO(result.output.encode("utf-8")))
    assert feed.bozo is False
    assert sorted(e.title.split(":")[0] for e in feed.entries) == ["Mistral AI", "OpenAI"]


@pytest.mark.one_store
def test_atom_escapes_feed_text_and_drops_unsafe_links():
    rows = [
        {
            "id": 7,
            "entity": "OpenAI",
            "title": "<script>alert(1)</script> & \x07bell",
            "link": "javascript:alert(1)",
            "source": "evil",
            "published": None,
            "snippet": "a <b>bold</b> \x00claim",
            "topics": "not json",
        }
    ]
    text = atom_feed(rows)
    assert "<script>" not in text and "&lt;script&gt;" in text
    feed = feedparser.parse(io.BytesIO(text.encode()))
    assert feed.bozo is False
    assert feed.entries[0].title == "OpenAI: <script>alert(1)</script> & bell"
    assert "javascript" not in text and not feed.entries[0].get("links")
    assert feed.entries[0].summary == "a <b>bold</b> claim"


@pytest.mark.one_store
def test_empty_atom_feed_is_valid():
    feed = feedparser.parse(io.BytesIO(render([], "atom").encode()))
    assert feed.bozo is False and feed.entries == []


def test_table_marks_the_mention_and_fits_the_terminal(hit_config, run_cli, monkeypatch):
    for width in (100, 180):
        monkeypatch.setenv("COLUMNS", str(width))
        result = run_cli(hit_config, "hits")
        lines = result.output.rstrip("\n").split("\n")
        assert all(len(line) <= width for line in lines), max(lines, key=len)
        assert result.output.count("**OpenAI**") == 1  # the mention is kept in view
    assert result.output.count("**Mistral AI**") == 2


@pytest.mark.one_store
def test_table_keeps_the_mention_in_view_when_the_snippet_is_cut():
    snippet = "word " * 60 + "about Microsoft and the rest"
    row = {"entity": "Microsoft", "matched": "Microsoft", "snippet": snippet}
    text = render([row], "table", ["entity", "snippet"]).split("\n")[2]
    assert "**Microsoft**" in text and text.split()[1].startswith("…")


def test_hits_filter_by_topic(hit_config, run_cli):
    rows = json.loads(run_cli(hit_config, "hits", "--topic", "merger", "--format", "json").output)
    assert sorted(r["entity"] for r in rows) == ["Microsoft", "Mistral AI"]
