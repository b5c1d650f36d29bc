"""Several `regwatch run` daemons (real processes) on one PostgreSQL database, and a daemon
whose database goes away and comes back.

Three daemons share one feed farm and one webhook receiver: each feed is polled about once
per interval by the three together, each new item is alerted once, and when one daemon is
killed -9 in the middle of a send the others take over its sources and its deliveries.
"""

from __future__ import annotations

import collections
import json
import re
import signal

import pytest
from conftest import rss, storage_toml, wait_until
from pgserver import PostgresServer

from watcher.store import Store

FEEDS = 4
INTERVAL = 2.0  # seconds: the politeness floor is lowered for the test ([defaults] min_interval)


def cluster_config(make_config, feed_server, receiver, database: str, feeds: int = FEEDS):
    sources = "".join(
        f'[[sources]]\nname = "feed{i}"\nurl = "{feed_server.url(f"/feed{i}.xml")}"\n'
        f'interval = "{INTERVAL:g}s"\n'
        for i in range(feeds)
    )
    path = make_config(
        channels={"hook": receiver.json_url},
        extra=sources,
        defaults='timeout = "5s"\nmin_interval = "1s"',
    )
    storage = storage_toml(database) + 'lease = "3s"\n'
    path.write_text(re.sub(r"^\[storage\]\n[^\[]*", storage + "\n", path.read_text()))
    return path


def items(feed: int, count: int, start: int = 0) -> str:
    return rss(
        [
            {"title": f"Microsoft item {n} of feed {feed}", "link": f"https://f{feed}.example/{n}"}
            for n in range(start, start + count)
        ]
    )


def alerts_per_hit(receiver) -> collections.Counter[int]:
    return collections.Counter(
        int(m.group(1))
        for post in receiver.posts
        for m in [re.search(r"regwatch hit #(\d+)", post.get("message", ""))]
        if m
    )


def test_three_daemons_share_the_sources_and_alert_once(
    feed_server, receiver, make_config, start_daemon, run_cli, pg_url
):
    for i in range(FEEDS):
        feed_server.routes[f"/feed{i}.xml"] = {"body": items(i, 2)}
    config = cluster_config(make_config, feed_server, receiver, pg_url)
    daemons = [start_daemon(config, run_args=("--node", f"node{n}")) for n in range(3)]
    for d in daemons:
        d.notify.wait_for("READY=1", timeout=30)
    store = Store(pg_url, readonly=True)
    wait_until(
        lambda: len(store.engine.query("SELECT * FROM items")) == 2 * FEEDS, 20, "first polls"
    )
    assert receiver.posts == []  # a new source's first poll alerts nobody, once for all

    # Each feed is polled about once per interval by the three together, not three times.
    before = {i: len(feed_server.hits_on(f"/feed{i}.xml")) for i in range(FEEDS)}
    window = 5 * INTERVAL
    marker = len(feed_server.requests)
    wait_until(lambda: len(feed_server.requests) >= marker + FEEDS * 5, 3 * window, "polls")
    polls = {i: len(feed_server.hits_on(f"/feed{i}.xml")) - before[i] for i in range(FEEDS)}
    total = sum(polls.values())
    # ~5 intervals have passed: about 5 polls of each feed (never the 15 of three daemons).
    assert all(2 <= n <= 9 for n in polls.values()), polls

    # New items: each alerted exactly once.
    for i in range(FEEDS):
        feed_server.routes[f"/feed{i}.xml"] = {"body": items(i, 3)}  # one new item each
    wait_until(lambda: len(receiver.posts) >= FEEDS, 20, "alerts for the new items")
    wait_until(lambda: _all_sent(store, FEEDS), 20, "every delivery recorded as sent")
    assert sorted(alerts_per_hit(receiver).values()) == [1] * FEEDS

    status = run_cli(config, "status", "--format", "json")
    assert status.exit_code == 0, status.output
    report = json.loads(status.output)
    live = {n["name"]: n for n in report["nodes"] if n["live"]}
    assert set(live) == {"node0", "node1", "node2"}
    assert sum(n["polls"] for n in live.values()) >= total // 2  # counts reach the database
    assert any((n["last_action"] or "").startswith("polled feed") for n in live.values())
    text = run_cli(config, "status").output
    assert "nodes: 3 live" in text and "node1" in text and "postgresql://postgres:****@" in text

    # kill -9 the daemon in the middle of a send: its deliveries and sources are taken over.
    receiver.hold.clear()
    received = len(receiver.received)
    for i in range(FEEDS):
        feed_server.routes[f"/feed{i}.xml"] = {"body": items(i, 5)}  # two new items each
    wait_until(lambda: len(receiver.received) > received, 20, "a send to hang")
    sender = wait_until(lambda: _sending_node(store), 10, "the node whose send hangs")
    victim = daemons[int(sender[-1])]
    victim.proc.kill()
    victim.proc.wait(10)
    receiver.hold.set()
    others = [d for d in daemons if d is not victim]
    polled = {i: len(feed_server.hits_on(f"/feed{i}.xml")) for i in range(FEEDS)}
    wait_until(lambda: _all_sent(store, 3 * FEEDS), 30, "the others to send what it held")
    per_hit = alerts_per_hit(receiver)
    assert len(per_hit) == 3 * FEEDS  # no alert lost
    assert sum(n - 1 for n in per_hit.values()) <= 1  # at most the one in flight, twice
    wait_until(
        lambda: all(
            len(feed_server.hits_on(f"/feed{i}.xml")) >= polled[i] + 2 for i in range(FEEDS)
        ),
        6 * INTERVAL,
        "every feed polled on by the others",
    )
    for d in others:
        d.signal(signal.SIGTERM)
        assert d.wait() == 0
    assert "Traceback" not in "".join(d.log() for d in others)


def _all_sent(store: Store, hits: int) -> bool:
    rows = store.engine.query("SELECT status FROM deliveries")
    return len(rows) == hits and all(r["status"] == "sent" for r in rows)


def _sending_node(store: Store) -> str | None:
    rows = store.engine.query(
        "SELECT lease_node FROM deliveries WHERE lease_node IS NOT NULL AND status = 'pending'"
    )
    return rows[0]["lease_node"] if rows else None


@pytest.fixture
def own_server():
    """A PostgreSQL server of this test's own, to stop and start under a running daemon."""
    reason = PostgresServer.missing()
    if reason:
        pytest.skip(reason)
    server = PostgresServer()
    yield server
    server.close()


def test_the_daemon_waits_out_a_database_restart_and_loses_nothing(
    feed_server, receiver, make_config, start_daemon, own_server
):
    url = own_server.create_database("regwatch")
    feed_server.routes["/feed0.xml"] = {"body": items(0, 2)}
    config = cluster_config(make_config, feed_server, receiver, url, feeds=1)
    daemon = start_daemon(config, "--log-level", "info")
    daemon.notify.wait_for("READY=1", timeout=30)
    store = Store(url, readonly=True)
    wait_until(lambda: _count(store, "items") == 2, 20, "the first poll")
    store.close()

    own_server.stop()  # the database goes away under the running daemon
    daemon.wait_log("database unavailable", timeout=20)
    feed_server.routes["/feed0.xml"] = {"body": items(0, 4)}  # two new items meanwhile
    requests = len(feed_server.hits_on("/feed0.xml"))
    own_server.start()
    daemon.wait_log("database available again", timeout=60)

    store = Store(url, readonly=True)
    wait_until(lambda: _count(store, "items") == 4, 30, "the new items stored")
    wait_until(lambda: _all_sent(store, 2), 30, "their alerts sent")
    assert len(feed_server.hits_on("/feed0.xml")) > requests  # polls resumed
    assert sorted(alerts_per_hit(receiver).values()) == [1, 1]  # nothing twice, nothing lost
    keys = [r["key"] for r in store.engine.query("SELECT key FROM items")]
    assert len(keys) == len(set(keys)) == 4
    store.close()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    assert "Traceback" not in daemon.log()


def _count(store: Store, table: str) -> int:
    return int(store.engine.execute(f"SELECT COUNT(*) FROM {table}").rows[0][0])
