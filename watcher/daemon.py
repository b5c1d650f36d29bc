"""The daemon: one APScheduler job per source, a dispatcher for pending alerts, clean stop.

Everything runs on one asyncio loop: fetches overlap, while parsing, matching and
database writes happen one at a time on the loop thread (one SQLite writer). Sends go to
worker threads so a slow channel never stalls polling.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from watcher.config import Config, Source
from watcher.digest import queue_digests
from watcher.health import check_health
from watcher.outbox import Dispatcher, utcnow
from watcher.poll import Poller, PollResult, poller_session
from watcher.store import Store

log = logging.getLogger(__name__)

DISPATCH_EVERY = 60.0  # seconds between retries of failed deliveries
STOP_GRACE = 5.0  # seconds in-flight polls get to finish after SIGTERM


def print_hits(result: PollResult) -> None:
    """Without channels, hits go to standard output (one line each)."""
    for item, mention in result.hits:
        print(
            f"HIT {mention.entity} [{result.source}] {item.title} <{item.link or ''}> "
            f"({mention.matched!r})",
            flush=True,
        )


def log_result(result: PollResult) -> None:
    if result.error:
        log.warning("source %s: %s", result.source, result.error)
    elif result.new_items:
        log.info(
            "source %s: %d new items, %d hits%s (%.2fs)",
            result.source,
            result.new_items,
            len(result.hits),
            "" if result.alerted else " (first poll: not alerted)",
            result.seconds,
        )
    else:
        log.debug("source %s: %s (%.2fs)", result.source, result.status, result.seconds)


class Daemon:
    """Runs until stopped: polls each source at its interval and sends alerts."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[object]] = set()
        self.poller: Poller | None = None
        self.dispatcher = Dispatcher(store, config.channels, config.delivery)

    async def send_pending(self) -> None:
        """Queue due digests and start sending what is due (one sender task per channel)."""
        if not self.config.channels:
            return
        queue_digests(self.store, self.config.channels, utcnow())
        self.dispatcher.kick()

    async def poll_job(self, source: Source) -> None:
        if self.stopping.is_set() or self.poller is None:
            return
        task = asyncio.current_task()
        if task:
            self._tasks.add(task)
        try:
            result = await self.poller.poll(source)
            log_result(result)
            health = check_health(self.config, self.store, source, utcnow())
            if result.hits and not self.config.channels:
                print_hits(result)
            if (result.hit_ids and result.alerted) or health:
                await self.send_pending()
        finally:
            if task:
                self._tasks.discard(task)

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        start = datetime.now().astimezone()
        for source in self.config.sources:
            if not source.enabled:
                continue
            jitter = min(source.interval * 0.1, 60.0)
            scheduler.add_job(
                self.poll_job,
                IntervalTrigger(seconds=source.interval, jitter=jitter),
                args=[source],
                id=f"source:{source.name}",
                name=f"poll {source.name}",
                # First polls spread over a few seconds so a restart does not burst.
                next_run_time=start + timedelta(seconds=random.uniform(0, 2)),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(source.interval),
            )
        scheduler.add_job(
            self.send_pending,
            IntervalTrigger(seconds=DISPATCH_EVERY),
            id="dispatch",
            name="send pending alerts",
            next_run_time=start,
            max_instances=1,
            coalesce=True,
        )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        async with poller_session(self.config, self.store) as poller:
            self.poller = poller
            scheduler = AsyncIOScheduler(event_loop=loop)
            self.schedule(scheduler)
            scheduler.start()
            enabled = sum(s.enabled for s in self.config.sources)
            log.info(
                "regwatch running: %d sources, %d entities, %d channels, database %s",
                enabled,
                len(self.config.entities),
                len(self.config.channels),
                self.store.path,
            )
            await self.stopping.wait()
            log.info(
                "stopping: no new polls; waiting up to %.0fs for %d in flight",
                STOP_GRACE,
                len(self._tasks),
            )
            scheduler.shutdown(wait=False)
            if self._tasks:
                _, late = await asyncio.wait(set(self._tasks), timeout=STOP_GRACE)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
            await self.dispatcher.close(STOP_GRACE)
        log.info("stopped")


def run_daemon(config: Config, store: Store) -> None:
    """Run the daemon in the foreground until SIGTERM or SIGINT."""
    asyncio.run(Daemon(config, store).run())
