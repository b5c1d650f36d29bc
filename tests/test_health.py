"""Source health: one alert when a source starts failing or goes stale, one on recovery."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import rss

from watcher.alert.health import check_health
from watcher.alert.outbox import Dispatcher
from watcher.config import load_config
from watcher.store import Store

pytestmark = pytest.mark.usefixtures("backend")

ITEM = {"title": "Agriculture council", "link": "https://eu.example/1"}


def test_failing_source_alerts_once_then_once_on_recovery(
    feed_server, receiver, receiver2, make_config, run_cli
):
    feed_server.routes["/eu.xml"] = {"body": rss([ITEM])}
    config = make_config(
        extra=f"""
[[sources]]
name = "eu"
url = "{feed_server.url("/eu.xml")}"

[[channels]]
name = "ops"
url = "{receiver.json_url}"
health = true

[[channels]]
name = "legal"
url = "{receiver2.json_url}"

[delivery]
health_failures = 3
"""
    )
    titles, health = [], []
    for status in [200, 500, 500, 500, 500, 500, 200, 200]:
        feed_server.routes["/eu.xml"] = {"body": rss([ITEM]), "status": status, "etag": False}
        assert run_cli(config, "poll").exit_code == 0
        titles.append([p["title"] for p in receiver.posts])
        health.append(
            json.loads(run_cli(config, "sources", "--format", "json").output)[0]["health"]
        )
    assert health == ["ok"] * 3 + ["failing"] * 3 + ["ok"] * 2
    failing = "[regwatch] source eu is failing (3 polls in a row)"
    recovered = "[regwatch] source eu has recovered (was failing)"
    assert titles == [[], [], [], [failing], [failing], [failing]] + [[failing, recovered]] * 2
    assert "Last error:" in receiver.posts[0]["message"] and "500" in receiver.posts[0]["message"]
    assert receiver2.posts == []  # only channels with health = true


def test_stale_source_alerts_once_and_recovers_on_a_new_item(feed_server, receiver, make_config):
    feed_server.routes["/eu.xml"] = {"body": rss([ITEM])}
    path = make_config(
        extra=f"""
[[sources]]
name = "eu"
url = "{feed_server.url("/eu.xml")}"
stale_after = "1h"

[[channels]]
name = "ops"
url = "{receiver.json_url}"
health = true
"""
    )
    config = load_config(path)
    store = Store(config.database)
    source = config.sources[0]

    async def poll_and_check(now: datetime) -> str | None:
        from watcher.pipeline.poll import poller_session

        async with poller_session(config, store) as poller:
            await poller.poll(source)
        state = check_health(config, store, source, now)
        await Dispatcher(store, config.channels, config.delivery).drain()
        return state

    now = datetime.now(UTC)
    assert asyncio.run(poll_and_check(now)) is None
    assert asyncio.run(poll_and_check(now + timedelta(minutes=59))) is None
    assert asyncio.run(poll_and_check(now + timedelta(minutes=61))) == "stale"
    assert asyncio.run(poll_and_check(now + timedelta(hours=5))) is None  # still stale: quiet
    feed_server.routes["/eu.xml"] = {
        "body": rss([{"title": "New", "link": "https://eu.example/2"}, ITEM])
    }
    assert asyncio.run(poll_and_check(now + timedelta(minutes=1))) == "ok"
    assert [p["title"] for p in receiver.posts] == [
        "[regwatch] source eu is stale (no new item for more than 1 h)",
        "[regwatch] source eu has recovered (was stale)",
    ]
