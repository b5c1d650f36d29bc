"""The daemon's face to the outside: systemd notifications, health, metrics, cycle logs.

The Daemon (scheduler.py) schedules and polls; a Service watches it: it counts every
finished poll, runs the heartbeat that proves the scheduler works, decides whether the
daemon is healthy (for the watchdog and /healthz), serves /healthz and /metrics, logs one
line per poll cycle and keeps the database bounded (retention, WAL checkpoints).

It also knows whether the database answers: after a StorageError (a PostgreSQL server
restarting, a network cut) polls and sends pause, and the heartbeat probes the database
with a growing delay (1 s doubling to 30 s) until it answers; then everything resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from watcher.config import Config
from watcher.daemon.httpd import HTTPServer
from watcher.daemon.metrics import CONTENT_TYPE, Metrics
from watcher.daemon.notify import Notifier
from watcher.errors import StorageError, WatcherError
from watcher.model import PollResult
from watcher.store import Store
from watcher.timeparse import now_iso

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 5.0  # seconds between heartbeat jobs (shorter under a short watchdog)
STALE_AFTER = 3  # heartbeats missed before the scheduler counts as frozen
MAINTAIN_EVERY = 3600.0  # seconds between retention pruning and WAL checkpoints
CYCLE_MIN, CYCLE_MAX = 10.0, 900.0  # bounds of the per-cycle INFO log line's period
PROBE_FIRST, PROBE_MAX = 1.0, 30.0  # seconds between probes of a database that went away


class Service:
    """Health, metrics and notifications of one daemon; `config` is swapped on reload."""

    def __init__(
        self,
        config: Config,
        store: Store,
        notifier: Notifier | None = None,
        node: str = "",
    ) -> None:
        self.config = config
        self.store = store
        self.node = node
        self.notifier = notifier or Notifier()
        watchdog = self.notifier.watchdog_seconds
        self.heartbeat_every = min(HEARTBEAT_EVERY, watchdog / 4) if watchdog else HEARTBEAT_EVERY
        self.last_heartbeat = time.monotonic()
        self.metrics = Metrics(store, self.heartbeat_age, node)
        self.sent: Callable[[], int] = lambda: 0  # alerts this node sent (the dispatcher's)
        self.polls = 0
        self.last_action: tuple[str, str] | None = None  # (what, when) for `regwatch status`
        self.down_since: float | None = None  # monotonic time the database went away
        self.probe_at = 0.0
        self.probe_delay = PROBE_FIRST
        self.http: HTTPServer | None = None
        self.http_address: tuple[str, int] | None = None
        self.failing: set[str] = {r["name"] for r in store.source_report() if r["failures"]}
        self.last_poll: datetime | None = None
        self.cycle = CycleStats()

    def after_poll(self, result: PollResult) -> None:
        """Count a finished poll for metrics, the cycle log line and systemd's STATUS."""
        self.metrics.record_poll(result)
        self.cycle.add(result)
        self.last_poll = datetime.now().astimezone()
        self.polls += 1
        what = f"polled {result.source}: {result.status}"
        if result.new_items:
            what += f", {result.new_items} new items, {len(result.hits)} hits"
        self.last_action = (what, now_iso())
        if result.error:
            self.failing.add(result.source)
        else:
            self.failing.discard(result.source)
        self.notifier.status(self.status_line())

    def status_line(self) -> str:
        """E.g. "42 sources, last poll 12:03, 0 failing" (systemctl status shows it)."""
        enabled = {s.name for s in self.config.sources if s.enabled}
        last = self.last_poll.strftime("%H:%M:%S") if self.last_poll else "none yet"
        return f"{len(enabled)} sources, last poll {last}, {len(self.failing & enabled)} failing"

    async def heartbeat(self) -> None:
        """A scheduler job: proves the scheduler runs jobs, and stamps the node's row."""
        self.last_heartbeat = time.monotonic()
        if not self.database_usable():
            return
        what, when = self.last_action or (None, None)
        try:
            self.store.record_heartbeat(
                self.node, polls=self.polls, sent=self.sent(), action=what, action_at=when
            )
        except StorageError as exc:
            self.database_failed(exc)
        except Exception as exc:  # noqa: BLE001 - a busy database must not kill the job
            log.warning("heartbeat: cannot write to the database: %s", exc)

    # -- a database that went away ----------------------------------------------------------------

    def database_failed(self, exc: StorageError) -> None:
        """A StorageError: pause polls and sends until a probe finds the database again."""
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.probe_delay = PROBE_FIRST
            log.error("database unavailable, pausing polls and sends: %s", exc.message)
        self.probe_at = time.monotonic() + self.probe_delay
        self.probe_delay = min(self.probe_delay * 2, PROBE_MAX)

    def database_usable(self) -> bool:
        """True unless the database went away; when its next probe is due, probe it."""
        if self.down_since is None:
            return True
        if time.monotonic() < self.probe_at:
            return False
        try:
            self.store.ping()
        except Exception as exc:  # noqa: BLE001 - any failure: still away
            self.database_failed(exc if isinstance(exc, StorageError) else StorageError(str(exc)))
            return False
        log.warning(
            "database available again after %.0fs: polls and sends resume",
            time.monotonic() - self.down_since,
        )
        self.down_since = None
        return True

    def heartbeat_age(self) -> float:
        return time.monotonic() - self.last_heartbeat

    def health(self, watchdog: bool = False) -> str | None:
        """None when healthy, else why not: a stale scheduler heartbeat or a mute database.

        For the `watchdog`, a database known to be away is no reason for systemd to restart
        us: the daemon is probing it, and a restart would not bring it back.
        """
        age = self.heartbeat_age()
        if age > STALE_AFTER * self.heartbeat_every:
            return f"scheduler heartbeat is {age:.1f}s old"
        if self.down_since is not None:
            if watchdog:
                return None
            return f"database does not answer for {time.monotonic() - self.down_since:.0f}s"
        try:
            self.store.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means the database does not answer
            return f"database does not answer: {exc}"
        return None

    async def watchdog(self, interval: float, stopping: asyncio.Event) -> None:
        """Ping systemd's watchdog every `interval` seconds until `stopping`, only while healthy."""
        warned = False
        while not stopping.is_set():
            problem = self.health(watchdog=True)
            if problem is None:
                self.notifier.watchdog()
                warned = False
            elif not warned:
                log.error("not pinging the watchdog: %s (systemd will restart us)", problem)
                warned = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=interval)

    async def log_cycle(self) -> None:
        """The one INFO line per poll cycle: sources polled, new items, hits, errors, time."""
        stats, self.cycle = self.cycle, CycleStats()
        if not stats.polls:
            return
        log.info(
            "poll cycle: %d sources polled (%d polls), %d new items, %d hits, %d errors, "
            "%.1fs polling",
            len(stats.sources),
            stats.polls,
            stats.items,
            stats.hits,
            stats.errors,
            stats.seconds,
            extra={"fields": {**vars(stats), "sources": len(stats.sources)}},
        )

    async def maintain(self) -> None:
        """Prune by retention and checkpoint the WAL (a scheduler job)."""
        if not self.database_usable():
            return
        try:
            self._maintain()
        except StorageError as exc:
            self.database_failed(exc)

    def _maintain(self) -> None:
        c = self.config
        if any(x is not None for x in (c.retention, c.retention_hits, c.retention_evidence)):
            pruned = self.store.prune(
                c.retention, c.retention_hits, retention_evidence=c.retention_evidence
            )
            if pruned.items or pruned.hits or pruned.evidence:
                log.info(
                    "retention: %d items, %d hits, %d deliveries pruned; evidence of %d hits",
                    pruned.items,
                    pruned.hits,
                    pruned.deliveries,
                    pruned.evidence,
                )
        self.store.checkpoint()

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Jobs that keep the service honest: heartbeat, cycle log line, maintenance.

        They are coroutines so they run on the loop, like polls: a heartbeat proves that
        the loop and the scheduler both work (a plain function would run in a thread).
        """
        start = datetime.now().astimezone()
        enabled = [s.interval for s in self.config.sources if s.enabled]
        cycle = min(max(min(enabled, default=CYCLE_MAX), CYCLE_MIN), CYCLE_MAX)
        for func, every, first in (
            (self.heartbeat, self.heartbeat_every, 0.0),
            (self.log_cycle, cycle, cycle),
            (self.maintain, MAINTAIN_EVERY, 60.0),
        ):
            scheduler.add_job(
                func,
                IntervalTrigger(seconds=every),
                id=func.__name__,
                next_run_time=start + timedelta(seconds=first),
                max_instances=1,
                coalesce=True,
            )

    async def close(self) -> None:
        """Stop serving HTTP."""
        if self.http:
            await self.http.close()

    async def start_http(self) -> None:
        """Serve /healthz and /metrics when [http] listen is set."""
        if self.config.http_listen is None:
            return
        self.http = HTTPServer({"/healthz": self.healthz, "/metrics": self.metrics_page})
        host, port = self.config.http_listen
        try:
            self.http_address = await self.http.start(host, port)
        except OSError as exc:
            raise WatcherError(
                f"cannot listen on {host}:{port} for [http]: {exc.strerror or exc}",
                hint="pick a free port in [http] listen, or remove [http] to run without it",
            ) from None
        log.info("health and metrics on http://%s:%d/healthz and /metrics", *self.http_address)

    def healthz(self) -> tuple[int, str, bytes]:
        problem = self.health()
        if problem is None:
            return 200, "text/plain", f"ok: {self.status_line()}\n".encode()
        return 503, "text/plain", f"unhealthy: {problem}\n".encode()

    def metrics_page(self) -> tuple[int, str, bytes]:
        return 200, CONTENT_TYPE, self.metrics.render()


class CycleStats:
    """Polls finished since the last cycle log line."""

    def __init__(self) -> None:
        self.polls = self.items = self.hits = self.errors = 0
        self.seconds = 0.0
        self.sources: set[str] = set()

    def add(self, result: PollResult) -> None:
        self.polls += 1
        self.sources.add(result.source)
        self.items += result.new_items
        self.hits += len(result.hits)
        self.errors += bool(result.error)
        self.seconds += result.seconds
