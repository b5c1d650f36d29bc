"""The daemon: one APScheduler job per source, a dispatcher for pending alerts, clean stop.

Everything runs on one asyncio loop: fetches overlap, while parsing, matching and
database writes happen one at a time on the loop thread (one SQLite writer). Sends go to
worker threads so a slow channel never stalls polling.

Each source's job runs one poll cycle (cycle.py) for that source. SIGHUP reloads the
config in place (Daemon.reload); readiness, watchdog, health, metrics and the per-cycle
log line live in supervise.py.

Several daemons may run on one PostgreSQL database, each a node (`--node`, default
hostname:pid): every one schedules every source, and the first to claim a due source in
the database polls it (store/cluster.py), so the cluster polls it once per interval. When
the database goes away, polls and sends pause and the daemon probes it with backoff until
it answers again (supervise.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import socket
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from watcher import __version__
from watcher.alert.digest import queue_digests
from watcher.alert.outbox import Dispatcher
from watcher.config import Config, Source, load_config
from watcher.daemon.cycle import print_hits, run_cycle
from watcher.daemon.notify import Notifier
from watcher.daemon.supervise import Service
from watcher.errors import StorageError, WatcherError
from watcher.logs import register_secrets
from watcher.model import PollResult
from watcher.pipeline.failing import REMIND_EVERY, FailureLog
from watcher.pipeline.poll import Poller, jitter, poller_session
from watcher.store import Store, node_name
from watcher.timeparse import utcnow

log = logging.getLogger(__name__)

DISPATCH_EVERY = 60.0  # seconds between retries of failed deliveries
STOP_GRACE = 5.0  # seconds in-flight polls get to finish after SIGTERM


def log_result(result: PollResult) -> None:
    if result.error:
        log.debug("source %s: %s", result.source, result.error)  # poll.py logs it as a warning
    elif result.new_items:
        log.debug(
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

    def __init__(
        self,
        config: Config,
        store: Store,
        notifier: Notifier | None = None,
        stop_grace: float = STOP_GRACE,
        node: str | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.node = node or node_name()
        self.stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[object]] = set()
        self.poller: Poller | None = None
        self.dispatcher = Dispatcher(
            store,
            config.channels,
            config.delivery,
            node=self.node,
            lease=config.lease,
            base_url=config.web.base_url,
        )
        self.service = Service(config, store, notifier, node=self.node)
        self.service.sent = lambda: self.dispatcher.sent
        self.notifier = self.service.notifier
        self.stop_grace = stop_grace
        self.scheduler: AsyncIOScheduler | None = None

    async def send_pending(self) -> None:
        """Queue due digests and start sending what is due (one sender task per channel)."""
        if not self.config.channels or not self.service.database_usable():
            return
        try:
            queue_digests(
                self.store, self.config.channels, utcnow(), base_url=self.config.web.base_url
            )
        except StorageError as exc:
            self.service.database_failed(exc)
            return
        self.dispatcher.kick()

    async def poll_job(self, source: Source) -> None:
        if self.stopping.is_set() or self.poller is None:
            return
        if not self.service.database_usable():
            return  # the database is away: this source is polled again once it is back
        task = asyncio.current_task()
        if task:
            self._tasks.add(task)
        try:
            cycle = await run_cycle(
                self.config, self.store, self.poller, self.dispatcher, [source], wait=False
            )
            for result in cycle.polls:
                if result.skipped:
                    continue  # another daemon polls it this interval
                log_result(result)
                self.service.after_poll(result)
                if result.hits and not self.config.channels:
                    print_hits(result)
        except StorageError as exc:
            # Nothing of the poll was stored (one transaction): its items are still new
            # at the next poll, so nothing is lost and nothing is stored twice.
            self.service.database_failed(exc)
        finally:
            if task:
                self._tasks.discard(task)

    def add_source_job(self, scheduler: AsyncIOScheduler, source: Source, start: datetime) -> None:
        """Schedule one source's polls at its interval, with jitter.

        The first poll comes within seconds; the next ones at a phase of the interval drawn
        at random, so that daemons sharing a database (each schedules every source) take
        turns unevenly per source: whichever daemon's turn comes first once the source is
        due polls it, and over the sources the work spreads across the daemons.
        """
        phase = start + timedelta(seconds=random.uniform(0, source.interval))
        scheduler.add_job(
            self.poll_job,
            source_trigger(source, phase),
            args=[source],
            id=f"source:{source.name}",
            name=f"poll {source.name}",
            # First polls spread over a few seconds so a restart does not burst.
            next_run_time=start + timedelta(seconds=random.uniform(0, 2)),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(int(source.interval), 1),
        )

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        start = datetime.now().astimezone()
        for source in self.config.sources:
            if not source.enabled:
                continue
            self.add_source_job(scheduler, source, start)
        scheduler.add_job(
            self.send_pending,
            # Also what picks up the alerts a dead daemon held, once its lease has expired.
            IntervalTrigger(seconds=min(DISPATCH_EVERY, self.config.lease)),
            id="dispatch",
            name="send pending alerts",
            next_run_time=start,
            max_instances=1,
            coalesce=True,
        )

    # -- reload (issue 4) ---------------------------------------------------------------------

    def reload(self) -> bool:
        """SIGHUP: re-read the config; swap sources, entities and channels, or keep the old."""
        if self.stopping.is_set():
            log.info("reload ignored: stopping")
            return False
        self.notifier.reloading()
        old = self.config
        try:
            new = load_config(old.path)
            if new.database != old.database:
                raise WatcherError(
                    f"[storage] changed to {new.database_label}",
                    hint="restart to switch databases",
                )
        except WatcherError as exc:
            log.error("reload failed, still running the previous config: %s", exc)
            self.notifier.ready(f"reload failed: {exc.message}; {self.service.status_line()}")
            return False
        register_secrets(c.url for c in new.channels)
        self.config = self.service.config = new
        if self.poller is not None:
            self.poller.use_config(new)
        self.dispatcher.use(new.channels, new.delivery, new.web.base_url)
        added, removed, changed = self.apply_sources(old, new)
        if new.http_listen != old.http_listen:
            log.warning("http.listen changed: it takes effect at the next restart")
        for note in new.notes:
            log.warning("%s: %s", new.path, note)
        log.info(
            "reloaded %s: %d sources (%d added, %d removed, %d changed), %d entities, %d channels",
            new.path,
            sum(s.enabled for s in new.sources),
            added,
            removed,
            changed,
            len(new.entities),
            len(new.channels),
        )
        self.notifier.ready(self.service.status_line())
        return True

    def apply_sources(self, old: Config, new: Config) -> tuple[int, int, int]:
        """Add, remove and reschedule source jobs; returns the counts (added, removed, changed)."""
        if self.scheduler is None:
            return 0, 0, 0
        before = {s.name: s for s in old.sources if s.enabled}
        after = {s.name: s for s in new.sources if s.enabled}
        for name in before.keys() - after.keys():
            if self.scheduler.get_job(f"source:{name}") is not None:
                self.scheduler.remove_job(f"source:{name}")
        start = datetime.now().astimezone()
        changed = 0
        for name, source in after.items():
            job_id = f"source:{name}"
            if name not in before or self.scheduler.get_job(job_id) is None:
                self.add_source_job(self.scheduler, source, start)
            elif source != before[name]:
                changed += 1
                self.scheduler.modify_job(
                    job_id, args=[source], misfire_grace_time=max(int(source.interval), 1)
                )
                if source.interval != before[name].interval:
                    self.scheduler.reschedule_job(job_id, trigger=source_trigger(source))
        return len(after.keys() - before.keys()), len(before.keys() - after.keys()), changed

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.store.record_start(
            self.node, socket.gethostname(), os.getpid(), __version__, str(self.config.path)
        )
        watchdog: asyncio.Task[None] | None = None
        async with poller_session(self.config, self.store, self.node) as poller:
            poller.scheduled = True
            poller.failure_log = FailureLog(REMIND_EVERY)  # reminders while a source is down
            self.poller = poller
            scheduler = AsyncIOScheduler(event_loop=loop)
            self.scheduler = scheduler
            self.schedule(scheduler)
            self.service.schedule(scheduler)
            scheduler.start()
            try:
                await self.service.start_http()
            except WatcherError:
                scheduler.shutdown(wait=False)
                raise
            if self.notifier.watchdog_seconds:
                watchdog = asyncio.create_task(
                    self.service.watchdog(self.notifier.watchdog_seconds / 2, self.stopping)
                )
            enabled = sum(s.enabled for s in self.config.sources)
            for note in self.config.notes:
                log.warning("%s: %s", self.config.path, note)
            log.info(
                "regwatch running as node %s: %d sources, %d entities, %d channels, database %s",
                self.node,
                enabled,
                len(self.config.entities),
                len(self.config.channels),
                self.store.label,
            )
            self.notifier.ready(self.service.status_line())
            await self.stopping.wait()
            log.info(
                "stopping: no new polls; waiting up to %.0fs for %d in flight",
                self.stop_grace,
                len(self._tasks),
            )
            self.notifier.stopping(f"stopping: {len(self._tasks)} polls in flight")
            # Pause, not shutdown: APScheduler's shutdown cancels running coroutine jobs at
            # once, which would cut in-flight polls short instead of granting them the grace.
            scheduler.pause()
            if self._tasks:
                _, late = await asyncio.wait(set(self._tasks), timeout=self.stop_grace)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
                if late:
                    log.warning(
                        "abandoned %d polls still running after the grace period", len(late)
                    )
            await self.dispatcher.close(self.stop_grace)
            scheduler.shutdown(wait=False)
            if watchdog:
                watchdog.cancel()
            await self.service.close()
        await self.service.log_cycle()
        try:
            self.store.record_stop(self.node)
        except StorageError as exc:
            log.warning("could not record the stop: %s", exc)
        log.info("stopped")


def source_trigger(source: Source, phase: datetime | None = None) -> IntervalTrigger:
    """A source's interval (from `phase` on), with up to 10% (at most a minute) of jitter."""
    return IntervalTrigger(
        seconds=source.interval, jitter=jitter(source.interval), start_date=phase
    )


def run_daemon(
    config: Config, store: Store, stop_grace: float = STOP_GRACE, node: str | None = None
) -> None:
    """Run the daemon in the foreground until SIGTERM or SIGINT."""
    asyncio.run(Daemon(config, store, stop_grace=stop_grace, node=node).run())
