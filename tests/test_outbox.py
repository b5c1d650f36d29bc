"""The outbox: hits and deliveries in one transaction, retries with backoff, dead letters,
channel isolation, and the `regwatch deliveries` commands. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port, old_database, wait_until

from watcher.alert.outbox import Dispatcher, backoff
from watcher.alert.send import send
from watcher.config import Channel, load_config
from watcher.errors import StorageError
from watcher.model import Item, Mention, Message
from watcher.store import Store
from watcher.store.base import open_engine

pytestmark = pytest.mark.usefixtures("backend")

START = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """An injected clock: tests move time instead of sleeping."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def save_hit(
    store: Store,
    title: str,
    channels: list[str],
    *,
    source: str = "eu",
    entity: str = "Microsoft",
    link: str | None = None,
    text: str = "",
    published: str | None = None,
) -> int:
    """Store one new item with one hit routed to `channels`, as a poll would."""
    state = store.source_state(source, f"https://{source}.example/feed")
    state.first_poll_at = "2024-01-01T00:00:00+00:00"  # not a first poll: alerts are created
    key = f"k:{title}"
    item = Item(key=key, title=title, link=link, published=published, text=text)
    mention = Mention(entity, entity, "title", 0, len(entity), title)
    ids = store.save_poll(
        state, [item], [(item, mention)], lambda m: list(channels), alert=True, http_status=200
    )
    return ids[0]


def save_item_with_hits(store: Store, title: str, routes: dict[str, list[str]]) -> list[int]:
    """Store one new item with a hit per entity of `routes` (entity -> its channels)."""
    state = store.source_state("eu", "https://eu.example/feed")
    state.first_poll_at = "2024-01-01T00:00:00+00:00"
    item = Item(key=f"k:{title}", title=title, link="https://eu.example/1", published=None)
    mentions = [
        (item, Mention(e, e, "title", title.index(e), title.index(e) + len(e), title))
        for e in routes
    ]
    return store.save_poll(
        state, [item], mentions, lambda m: routes[m.entity], alert=True, http_status=200
    )


def channels_config(make_config: Any, channels: dict[str, str], delivery: str = "") -> Any:
    path: Path = make_config(channels=channels, extra=f"[delivery]\n{delivery}\n")
    return load_config(path)


def test_a_hit_and_its_deliveries_are_saved_together_or_not_at_all(database: str) -> None:
    store = Store(database)
    state = store.source_state("eu", "https://eu.example/feed")
    state.first_poll_at = "2024-01-01T00:00:00+00:00"
    items = [Item(key=f"k{i}", title=f"Item {i}", link=None, published=None) for i in range(2)]
    hits = [(item, Mention("Microsoft", "Microsoft", "title", 0, 9, "s")) for item in items]
    calls = []

    def route(hit: Mention) -> list[str]:
        calls.append(hit)
        if len(calls) == 2:
            raise RuntimeError("crash in the middle of the poll's transaction")
        return ["hook"]

    with pytest.raises(RuntimeError):
        store.save_poll(state, items, hits, route, alert=True, http_status=200)
    counts = [store.engine.execute(f"SELECT COUNT(*) FROM {t}").rows[0][0] for t in TABLES]
    assert counts == [0, 0, 0, 0]

    store.save_poll(state, items, hits, lambda e: ["hook", "mail"], alert=True, http_status=200)
    counts = [store.engine.execute(f"SELECT COUNT(*) FROM {t}").rows[0][0] for t in TABLES]
    assert counts == [2, 2, 4, 1]
    statuses = {r["status"] for r in store.list_deliveries()}
    assert statuses == {"pending"}


TABLES = ("items", "hits", "deliveries", "sources")


@pytest.mark.parametrize(
    "status, retry_after, wait",
    [
        (429, "7200", 7200.0),
        (503, "120", 120.0),
        (429, "5", 60.0),  # shorter than the backoff: the backoff stands
        (429, "999999", 24 * 3600.0),  # capped at a day
        (429, "soon", 60.0),  # unreadable: ignored
        (500, "7200", 60.0),  # only 429 and 503 carry a Retry-After we follow
    ],
    ids=["429-seconds", "503-seconds", "below-backoff", "capped", "garbage", "500"],
)
def test_retry_after_of_a_channel_sets_the_next_attempt(
    make_config, receiver, status, retry_after, wait
) -> None:
    config = channels_config(make_config, {"hook": receiver.json_url}, 'retry_base = "1m"')
    store = Store(config.database)
    save_hit(store, "Microsoft fined", ["hook"])
    receiver.status = status
    receiver.headers = {"Retry-After": retry_after}
    dispatcher = Dispatcher(store, config.channels, config.delivery, clock=Clock())
    assert asyncio.run(dispatcher.drain()) == (0, 1)
    row = store.list_deliveries()[0]
    assert row["status"] == "failed"
    assert datetime.fromisoformat(row["next_attempt"]) == START + timedelta(seconds=wait)
    if wait > 60:
        assert "Retry-After" in row["error"]


def test_retry_after_as_an_http_date_sets_the_next_attempt(make_config, receiver) -> None:
    config = channels_config(make_config, {"hook": receiver.json_url}, 'retry_base = "1m"')
    store = Store(config.database)
    save_hit(store, "Microsoft fined", ["hook"])
    receiver.status = 429
    asked = datetime.now(UTC) + timedelta(hours=3)
    receiver.headers = {"Retry-After": format_datetime(asked, usegmt=True)}
    dispatcher = Dispatcher(store, config.channels, config.delivery, clock=Clock())
    assert asyncio.run(dispatcher.drain()) == (0, 1)
    wait = datetime.fromisoformat(store.list_deliveries()[0]["next_attempt"]) - START
    # Three hours from when the service answered (the date has whole seconds).
    assert timedelta(hours=2, minutes=50) < wait <= timedelta(hours=3)
    assert len(receiver.received) == 1
    assert asyncio.run(dispatcher.drain()) == (0, 0)  # not due yet: no second request
    assert len(receiver.received) == 1


def test_an_item_naming_two_entities_is_one_message_per_channel(make_config, receiver) -> None:
    config = channels_config(
        make_config, {"hook": receiver.json_url, "ms": receiver.json_url.replace("/hook", "/ms")}
    )
    store = Store(config.database)
    title = "Microsoft invests in Mistral AI"
    save_item_with_hits(store, title, {"Microsoft": ["hook", "ms"], "Mistral AI": ["hook"]})
    dispatcher = Dispatcher(store, config.channels, config.delivery, clock=Clock())
    assert asyncio.run(dispatcher.drain()) == (2, 0)
    posts = {p["_path"]: p for p in receiver.posts}
    assert len(receiver.posts) == 2
    assert posts["/hook"]["title"] == f"[regwatch] Microsoft, Mistral AI: {title}"
    assert "Entities: Microsoft (matched “Microsoft”), Mistral AI" in posts["/hook"]["message"]
    assert posts["/hook"]["message"].endswith("regwatch hit #1, #2, story #1")
    # A channel filtering entities gets only the hits routed to it.
    assert posts["/ms"]["title"] == f"[regwatch] Microsoft: {title}"
    assert posts["/ms"]["message"].startswith("Entity: Microsoft (matched “Microsoft”)\n")
    rows = store.list_deliveries()
    assert len(rows) == 3 and {r["status"] for r in rows} == {"sent"}
    assert asyncio.run(dispatcher.drain()) == (0, 0)  # nothing sent twice


def test_an_items_deliveries_fail_and_are_retried_together(make_config, receiver) -> None:
    config = channels_config(make_config, {"hook": receiver.json_url}, 'retry_base = "1m"')
    store = Store(config.database)
    save_item_with_hits(
        store, "Microsoft invests in Mistral AI", {"Microsoft": ["hook"], "Mistral AI": ["hook"]}
    )
    clock = Clock()
    dispatcher = Dispatcher(store, config.channels, config.delivery, clock=clock)
    receiver.status = 500
    assert asyncio.run(dispatcher.drain()) == (0, 1)
    rows = store.list_deliveries()
    assert [(r["status"], r["attempts"]) for r in rows] == [("failed", 1)] * 2
    assert len({r["next_attempt"] for r in rows}) == 1
    receiver.status = 200
    clock.advance(minutes=1)
    assert asyncio.run(dispatcher.drain()) == (1, 0)
    assert len(receiver.posts) == 1 and len(receiver.received) == 2
    assert {r["status"] for r in store.list_deliveries()} == {"sent"}


def test_a_waiting_delivery_of_the_same_item_goes_with_a_due_one(make_config, receiver) -> None:
    config = channels_config(make_config, {"hook": receiver.json_url})
    store = Store(config.database)
    title = "Microsoft invests in Mistral AI"
    first, _ = save_item_with_hits(store, title, {"Microsoft": ["hook"], "Mistral AI": ["hook"]})
    # Microsoft's delivery failed on its own before (an older regwatch): due in an hour.
    later = (START + timedelta(hours=1)).isoformat()
    store.engine.execute(
        "UPDATE deliveries SET status = 'failed', attempts = 2, next_attempt_at = ? "
        "WHERE hit_id = ?",
        [later, first],
    )
    dispatcher = Dispatcher(store, config.channels, config.delivery, clock=Clock())
    assert asyncio.run(dispatcher.drain()) == (1, 0)
    assert receiver.posts[0]["title"] == f"[regwatch] Microsoft, Mistral AI: {title}"
    rows = store.list_deliveries()
    assert sorted((r["status"], r["attempts"]) for r in rows) == [("sent", 1), ("sent", 3)]


def test_a_sibling_leased_by_another_daemon_is_left_to_it(make_config, receiver) -> None:
    config = channels_config(make_config, {"hook": receiver.json_url})
    store = Store(config.database)
    title = "Microsoft invests in Mistral AI"
    _, second = save_item_with_hits(store, title, {"Microsoft": ["hook"], "Mistral AI": ["hook"]})
    store.engine.execute(
        "UPDATE deliveries SET lease_node = 'other', lease_until = '2999-01-01T00:00:00+00:00' "
        "WHERE hit_id = ?",
        [second],
    )
    dispatcher = Dispatcher(store, config.channels, config.delivery, clock=Clock())
    assert asyncio.run(dispatcher.drain()) == (1, 0)
    assert receiver.posts[0]["title"] == f"[regwatch] Microsoft: {title}"
    statuses = {r["entity"]: r["status"] for r in store.list_deliveries()}
    assert statuses == {"Microsoft": "sent", "Mistral AI": "pending"}


def test_failed_sends_back_off_then_die_and_retry_dead_requeues(
    make_config, receiver, run_cli
) -> None:
    config = channels_config(
        make_config,
        {"hook": receiver.json_url},
        'retry_base = "1m"\nretry_cap = "4m"\nmax_attempts = 4',
    )
    store = Store(config.database)
    hit = save_hit(store, "Microsoft fined", ["hook"])
    clock = Clock()
    dispatcher = Dispatcher(store, config.channels, config.delivery, clock=clock)
    receiver.status = 500

    def attempt() -> tuple[int, int]:
        return asyncio.run(dispatcher.drain())

    def row() -> dict[str, Any]:
        return store.list_deliveries()[0]

    assert attempt() == (0, 1)
    assert row()["status"] == "failed" and row()["attempts"] == 1
    assert "500" in row()["error"] or "failure" in row()["error"]
    assert row()["next_attempt"] == "2024-03-01T12:01:00+00:00"  # base: 1 minute

    clock.advance(seconds=30)
    assert attempt() == (0, 0)  # not due yet: nothing sent
    waits = []
    for _ in range(3):
        due = datetime.fromisoformat(row()["next_attempt"])
        waits.append(due - clock.now)
        clock.now = due
        attempt()
    assert [w.total_seconds() for w in waits] == [30, 120, 240]  # 1m (30s left), 2m, 4m (cap)
    assert row()["status"] == "dead" and row()["attempts"] == 4 and row()["next_attempt"] is None
    assert len(receiver.received) == 4

    clock.advance(hours=5)
    assert attempt() == (0, 0)  # dead stays dead

    listed = run_cli(config.path, "deliveries", "--status", "dead", "--format", "json")
    assert listed.exit_code == 0, listed.output
    dead = json.loads(listed.output)
    assert [(d["kind"], d["hit_id"], d["channel"]) for d in dead] == [("hit", hit, "hook")]
    assert "json://" not in listed.output  # never the channel URL

    assert "0 deliveries" in run_cli(config.path, "deliveries", "retry").output  # only failed
    assert "1 deliveries" in run_cli(config.path, "deliveries", "retry", "--dead").output
    receiver.status = 200
    assert attempt() == (1, 0)
    assert row()["status"] == "sent"
    assert f"regwatch hit #{hit}" in receiver.texts()[0]


@pytest.mark.one_store
def test_backoff_doubles_up_to_the_cap() -> None:
    from watcher.config import Delivery

    policy = Delivery(retry_base=60, retry_cap=3600)
    assert [backoff(n, policy) for n in range(1, 9)] == [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_a_slow_or_down_channel_does_not_hold_up_another(make_config, receiver, receiver2) -> None:
    down = f"json://127.0.0.1:{free_port()}/nobody"
    config = channels_config(
        make_config, {"slow": receiver.json_url, "fast": receiver2.json_url, "down": down}
    )
    store = Store(config.database)
    hits = [save_hit(store, f"Microsoft story {i}", ["slow", "fast", "down"]) for i in range(3)]
    receiver.hold.clear()  # the slow channel's first send hangs until released

    async def run() -> tuple[int, int]:
        dispatcher = Dispatcher(store, config.channels, config.delivery)
        task = asyncio.create_task(dispatcher.drain())
        await asyncio.to_thread(
            wait_until,
            lambda: receiver.received and len(receiver2.posts) == 3,
            10,
            "the fast channel's 3 alerts while the slow one hangs",
        )
        assert len(receiver.received) == 1 and not receiver.posts  # still in flight
        receiver.hold.set()
        return await task

    sent, failed = asyncio.run(run())
    assert (sent, failed) == (6, 3)  # "down" refuses at once: each delivery failed, none lost
    assert len(receiver.posts) == 3
    by_channel: dict[str, set[str]] = {}
    for r in store.list_deliveries():
        by_channel.setdefault(r["channel"], set()).add(r["status"])
    assert by_channel == {"slow": {"sent"}, "fast": {"sent"}, "down": {"failed"}}
    assert sorted(int(t.split("#")[-1]) for t in receiver2.texts()) == sorted(hits)


@pytest.mark.one_store
def test_send_reads_the_apprise_result_and_honours_the_timeout(receiver) -> None:
    channel = Channel("hook", receiver.json_url)
    message = Message("title", "body", "text")
    assert send(channel, message, timeout=5) is None
    receiver.status = 503
    error = send(channel, message, timeout=5)
    assert error and error.startswith("hook: delivery failed (failure")
    receiver.status = 200
    receiver.hold.clear()
    error = send(channel, message, timeout=0.5)
    receiver.hold.set()
    assert error and "timeout" in error.lower()
    assert send(Channel("bad", "json://"), message) is not None  # never raises


def test_deliveries_listing_filters_by_status_and_channel(make_config, receiver, run_cli) -> None:
    config = channels_config(make_config, {"a": receiver.json_url, "b": receiver.json_url})
    store = Store(config.database)
    save_hit(store, "Microsoft one", ["a", "b"])
    asyncio.run(Dispatcher(store, config.channels[:1], config.delivery).drain())
    out = run_cli(config.path, "deliveries", "--format", "json")
    assert {(r["channel"], r["status"]) for r in json.loads(out.output)} == {
        ("a", "sent"),
        ("b", "pending"),
    }
    only_b = run_cli(config.path, "deliveries", "--channel", "b", "--status", "pending")
    assert only_b.exit_code == 0 and "Microsoft one" in only_b.output
    assert "(no rows)" in run_cli(config.path, "deliveries", "--status", "dead").output
    bad = run_cli(config.path, "deliveries", "--status", "lost")
    assert bad.exit_code == 2 and "lost" in bad.output


def test_the_daemon_polls_on_while_a_channel_hangs(feed_server, make_config, receiver, receiver2):
    from conftest import rss

    from watcher.daemon.scheduler import Daemon
    from watcher.pipeline.poll import poller_session

    feed_server.routes["/eu.xml"] = {
        "body": rss([{"title": "Microsoft fined", "link": "https://e/1"}])
    }
    path = make_config(
        channels={"slow": receiver.json_url, "fast": receiver2.json_url},
        extra=f'[[sources]]\nname = "eu"\nurl = "{feed_server.url("/eu.xml")}"\n'
        "alert_first_poll = true\n",
    )
    config = load_config(path)
    store = Store(config.database)
    receiver.hold.clear()

    async def run() -> None:
        daemon = Daemon(config, store)
        async with poller_session(config, store) as poller:
            daemon.poller = poller
            await daemon.poll_job(config.sources[0])  # returns although "slow" hangs
            await asyncio.to_thread(
                wait_until, lambda: receiver.received and receiver2.posts, 10, "both sends"
            )
            assert not receiver.posts  # the slow channel's send is still in flight
            receiver.hold.set()
            await daemon.dispatcher.close(10)  # a clean stop lets the send in flight finish

    asyncio.run(run())
    assert len(receiver.posts) == 1
    assert {r["status"] for r in store.list_deliveries()} == {"sent"}


@pytest.mark.empty_database
def test_a_database_from_before_the_outbox_is_migrated_in_place(database: str) -> None:
    old_database(database, skip=lambda name: name.startswith(("040_", "06", "08")))
    old = open_engine(database)
    old.execute(
        "INSERT INTO items (id, source, key, title, link, discovered, text) "
        "VALUES (7, 'eu', 'k', 'Microsoft fined', 'https://e/1', '2024-01-01T00:00:00+00:00', '')"
    )
    old.execute(
        'INSERT INTO hits (id, item_id, entity, matched, field, start, "end", snippet, created) '
        "VALUES (3, 7, 'Microsoft', 'Microsoft', 'title', 0, 9, 's', '2024-01-01T00:00:00+00:00')"
    )
    old.execute(
        "INSERT INTO deliveries (hit_id, channel, status, attempts, created, updated) "
        "VALUES (3, 'hook', 'failed', 2, '2024-01-01', '2024-01-01')"
    )
    old.close()

    store = Store(database)
    assert [h.story for h in store.query_hits()] == [7]  # one story per old item
    row = store.list_deliveries()[0]
    assert (row["status"], row["attempts"], row["next_attempt"]) == ("failed", 2, None)
    refused = pytest.raises(StorageError, match="(?i)foreign key")  # guards its references
    with refused, store.writing("a delivery of no hit"):
        store.engine.execute(
            "INSERT INTO deliveries (hit_id, channel, created, updated) VALUES (99, 'x', '', '')"
        )


@pytest.mark.empty_database
def test_reading_a_database_not_yet_upgraded_answers_or_says_how(
    make_config, run_cli, database
) -> None:
    config = make_config()
    old_database(database, skip=lambda name: name.startswith(("040_", "06", "08")))
    hits = run_cli(config, "hits", "--stories")  # reading never migrates: no stories yet
    assert hits.exit_code == 0 and "(no rows)" in hits.output, hits.output
    assert run_cli(config, "sources").exit_code == 0
    result = run_cli(config, "deliveries")  # the outbox does not exist yet: say what to do
    assert result.exit_code == 4, result.output
    assert "older regwatch" in result.output and "regwatch poll" in result.output
    assert run_cli(config, "poll").exit_code == 0  # upgrades it
    assert run_cli(config, "deliveries").exit_code == 0


def test_a_hanging_channel_pauses_after_one_timeout(make_config, receiver) -> None:
    config = channels_config(make_config, {"hangs": receiver.json_url}, 'timeout = "1s"')
    store = Store(config.database)
    for i in range(3):
        save_hit(store, f"Microsoft story {i}", ["hangs"])
    receiver.hold.clear()
    try:
        result = asyncio.run(Dispatcher(store, config.channels, config.delivery).drain())
    finally:
        receiver.hold.set()
    assert result == (0, 1)  # one timeout, not three
    assert sorted(r["status"] for r in store.list_deliveries()) == ["failed", "pending", "pending"]
    assert "timeout" in store.list_deliveries(status="failed")[0]["error"].lower()
