"""Digests: one message per channel and period, grouped by entity, on an injected clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from test_outbox import Clock, channels_config, save_hit

from watcher.alert.digest import queue_digests
from watcher.alert.outbox import Dispatcher
from watcher.store import Store
from watcher.timeparse import last_slot, parse_schedule, zone

pytestmark = pytest.mark.usefixtures("backend")

BRUSSELS = zone("Europe/Brussels")


@pytest.mark.parametrize(
    "spec, now, slot",
    [
        ("hourly", "2024-03-04T09:59:00+00:00", "2024-03-04T10:00:00+01:00"),
        ("daily 08:00", "2024-03-04T06:59:00+00:00", "2024-03-03T08:00:00+01:00"),
        ("daily 08:00", "2024-03-04T07:00:00+00:00", "2024-03-04T08:00:00+01:00"),
        # The day DST starts in Brussels: 08:00 is at 06:00 UTC, not 07:00.
        ("daily 08:00", "2024-03-31T06:00:00+00:00", "2024-03-31T08:00:00+02:00"),
        ("weekly mon 08:00", "2024-03-04T06:59:00+00:00", "2024-02-26T08:00:00+01:00"),
        ("weekly mon 08:00", "2024-03-06T12:00:00+00:00", "2024-03-04T08:00:00+01:00"),
        ("weekly sun 23:30", "2024-03-04T00:00:00+00:00", "2024-03-03T23:30:00+01:00"),
    ],
    ids=["hourly", "before-8", "at-8", "dst", "before-monday-8", "wednesday", "sunday-night"],
)
@pytest.mark.one_store
def test_schedule_slots(spec, now, slot):
    got = last_slot(parse_schedule(spec), BRUSSELS, datetime.fromisoformat(now))
    assert got == datetime.fromisoformat(slot)


def test_digest_groups_pending_hits_by_entity_newest_first(make_config, receiver, receiver2):
    config = channels_config(make_config, {"daily": receiver.json_url, "now": receiver2.json_url})
    daily = config.channels[0].__class__(
        **{
            **config.channels[0].__dict__,
            "schedule": parse_schedule("daily 08:00"),
            "timezone": "Europe/Brussels",
        }
    )
    channels = (daily, config.channels[1])
    store = Store(config.database)
    clock = Clock(datetime(2024, 3, 4, 6, 30, tzinfo=UTC))  # 07:30 in Brussels
    dispatcher = Dispatcher(store, channels, config.delivery, clock=clock)

    def cycle() -> list[int]:
        queued = queue_digests(store, channels, clock.now)
        asyncio.run(dispatcher.drain())
        return queued

    assert cycle() == []  # first sight: the first digest is the next 08:00
    both = ["daily", "now"]
    old = save_hit(
        store, "Microsoft cloud probe opened", both, published="2024-03-03T09:00:00+00:00"
    )
    new = save_hit(store, "Microsoft Teams decision", both, published="2024-03-04T05:00:00+00:00")
    openai = save_hit(
        store, "OpenAI board inquiry", both, entity="OpenAI", published="2024-03-03T12:00:00+00:00"
    )
    save_hit(
        store,
        "Microsoft Teams decision",
        both,
        source="wire",
        link="https://wire/1",
        published="2024-03-04T05:30:00+00:00",
    )
    assert cycle() == []
    assert len(receiver2.posts) == 3 and receiver.posts == []  # immediate now, digest later

    clock.now = datetime(2024, 3, 4, 6, 59, tzinfo=UTC)
    assert cycle() == [] and receiver.posts == []
    clock.now = datetime(2024, 3, 4, 7, 0, tzinfo=UTC)  # 08:00 in Brussels
    assert len(cycle()) == 1
    assert len(receiver.posts) == 1
    post = receiver.posts[0]
    assert post["title"] == "[regwatch] digest: 3 hits (Microsoft 2, OpenAI 1)"
    body = post["message"]
    order = [body.index(f"hit #{h}") for h in (new, old, openai)]
    assert order == sorted(order)  # Microsoft first (2 hits), newest first; then OpenAI
    assert "Microsoft (2)" in body and "OpenAI (1)" in body
    assert "also in wire" in body  # the story's later copy is listed, not alerted
    assert "2024-03-04 08:00 CET" in body
    rows = store.list_deliveries(channel="daily")
    assert sorted((r["kind"], r["status"]) for r in rows) == [
        ("digest", "sent"),
        ("hit", "merged"),
        ("hit", "sent"),
        ("hit", "sent"),
        ("hit", "sent"),
    ]

    clock.now = datetime(2024, 3, 5, 7, 0, tzinfo=UTC)  # next day, nothing new
    assert cycle() == [] and len(receiver.posts) == 1  # an empty digest sends nothing


def test_a_crash_after_queueing_a_digest_sends_it_once(make_config, receiver):
    config = channels_config(make_config, {"hourly": receiver.json_url})
    hourly = config.channels[0].__class__(
        **{**config.channels[0].__dict__, "schedule": parse_schedule("hourly")}
    )
    store = Store(config.database)
    clock = Clock(datetime(2024, 3, 4, 9, 30, tzinfo=UTC))
    queue_digests(store, (hourly,), clock.now)
    hits = [save_hit(store, f"Microsoft item {i}", ["hourly"]) for i in range(3)]
    clock.now = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)
    assert len(queue_digests(store, (hourly,), clock.now)) == 1
    store.close()  # "crash" before the send: the digest and its hits are on disk

    store = Store(config.database)
    assert queue_digests(store, (hourly,), clock.now) == []  # not queued twice
    rows = store.list_deliveries()
    assert sorted((r["kind"], r["status"]) for r in rows) == [
        ("digest", "pending"),
        ("hit", "digested"),
        ("hit", "digested"),
        ("hit", "digested"),
    ]
    assert asyncio.run(Dispatcher(store, (hourly,), config.delivery, clock=clock).drain()) == (1, 0)
    assert len(receiver.posts) == 1
    assert all(f"hit #{h}" in receiver.posts[0]["message"] for h in hits)
    assert {r["status"] for r in store.list_deliveries()} == {"sent"}
