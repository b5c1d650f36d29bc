"""Reload in place: which jobs are added, removed and rescheduled (in-process, scheduler paused)."""

from __future__ import annotations

import asyncio
import dataclasses

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from watcher.config import load_config
from watcher.daemon.scheduler import Daemon
from watcher.store import Store

SOURCES = {"a": "http://127.0.0.1:9/a", "b": "http://127.0.0.1:9/b", "c": "http://127.0.0.1:9/c"}


def test_apply_sources_adds_removes_and_reschedules_jobs(make_config):
    old = load_config(make_config(SOURCES))
    a, b, c = old.sources
    new = dataclasses.replace(
        old,
        sources=(
            dataclasses.replace(a, interval=120.0),  # rescheduled
            dataclasses.replace(b, url="http://127.0.0.1:9/b2"),  # same timing, new URL
            dataclasses.replace(c, enabled=False),  # disabled: its job goes
            dataclasses.replace(c, name="d"),  # new
        ),
    )
    daemon = Daemon(old, Store(old.database))

    async def scenario() -> None:
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
        scheduler.start(paused=True)
        daemon.scheduler = scheduler
        daemon.schedule(scheduler)
        b_next = scheduler.get_job("source:b").next_run_time
        assert daemon.apply_sources(old, new) == (1, 1, 2)
        jobs = {j.id: j for j in scheduler.get_jobs() if j.id.startswith("source:")}
        assert sorted(jobs) == ["source:a", "source:b", "source:d"]
        assert jobs["source:a"].trigger.interval.total_seconds() == 120.0
        assert jobs["source:b"].args[0].url == "http://127.0.0.1:9/b2"
        assert jobs["source:b"].next_run_time == b_next  # a URL change does not reset timing
        scheduler.shutdown(wait=False)

    asyncio.run(scenario())
