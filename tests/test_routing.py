"""Routing: a channel takes hits by entity, source name and source tag."""

from __future__ import annotations

import json

import pytest
from conftest import rss

from watcher.config import Channel

pytestmark = pytest.mark.usefixtures("backend")


def test_channels_filter_by_entity_source_and_tag(feed_server, receiver, make_config, run_cli):
    feed_server.routes["/eu.xml"] = {
        "body": rss(
            [{"title": "Microsoft and OpenAI deal reviewed", "link": "https://eu.example/1"}]
        )
    }
    feed_server.routes["/news.xml"] = {
        "body": rss([{"title": "OpenAI ships a model", "link": "https://news.example/2"}])
    }
    hook = receiver.json_url
    config = make_config(
        extra=f"""
[[sources]]
name = "eu"
url = "{feed_server.url("/eu.xml")}"
tags = ["regulator"]
alert_first_poll = true

[[sources]]
name = "news"
url = "{feed_server.url("/news.xml")}"
tags = ["press"]
alert_first_poll = true

[[channels]]
name = "ms-only"
url = "{hook}"
entities = ["Microsoft"]

[[channels]]
name = "from-eu"
url = "{hook}"
sources = ["eu"]

[[channels]]
name = "regulators"
url = "{hook}"
tags = ["regulator", "court"]

[[channels]]
name = "openai-press"
url = "{hook}"
entities = ["OpenAI"]
tags = ["press"]

[[channels]]
name = "everything"
url = "{hook}"
"""
    )
    assert run_cli(config, "poll").exit_code == 0
    rows = json.loads(run_cli(config, "deliveries", "--format", "json").output)
    routed: dict[str, set[tuple[str, str]]] = {}
    for r in rows:
        routed.setdefault(r["channel"], set()).add((r["entity"], r["source"]))
    everything = {("Microsoft", "eu"), ("OpenAI", "eu"), ("OpenAI", "news")}
    assert routed == {
        "ms-only": {("Microsoft", "eu")},
        "from-eu": {("Microsoft", "eu"), ("OpenAI", "eu")},
        "regulators": {("Microsoft", "eu"), ("OpenAI", "eu")},
        "openai-press": {("OpenAI", "news")},
        "everything": everything,
    }
    assert len(rows) == 1 + 2 + 2 + 1 + 3  # one delivery per hit and channel
    # ... and one message per item and channel, naming every entity the channel takes.
    assert len(receiver.posts) == 1 + 1 + 1 + 1 + 2
    titles = sorted(p["title"] for p in receiver.posts)
    assert titles.count("[regwatch] Microsoft, OpenAI: Microsoft and OpenAI deal reviewed") == 3
    assert titles.count("[regwatch] Microsoft: Microsoft and OpenAI deal reviewed") == 1
    assert titles.count("[regwatch] OpenAI: OpenAI ships a model") == 2
    assert {r["status"] for r in rows} == {"sent"}


@pytest.mark.one_store
def test_wants_keeps_its_old_calls_working():
    channel = Channel("c", "json://x", entities=("Microsoft",), sources=("eu",), tags=("reg",))
    assert channel.wants("Microsoft", (), source="eu", tags=["reg", "eu"])
    assert not channel.wants("Microsoft")  # a source filter with no source: not taken
    assert not channel.wants("Microsoft", ("merger",), source="eu", tags=["press"])
    assert Channel("all", "json://x").wants("OpenAI", ("merger",))  # wants(entity, topics)
