"""The outbox: deliveries and messages waiting to be sent, retried with backoff, never lost.

A hit's deliveries are written with the hit (Store.save_poll); digests and health alerts are
rows of `messages`. The dispatcher drains each channel in its own task, so a channel that is
down or slow never holds up another. A row is marked sent only after apprise confirmed the
send, so a crash (even kill -9) at worst re-sends the one message that was in flight.

Several daemons may share one database: a dispatcher claims the rows it sends (a lease of
at most a minute, store/outbox.py), so each is sent by one daemon; the rows of a daemon
that died are taken over by the others once its lease has expired.

Statuses: pending -> sent | failed (retried at next_attempt_at) -> ... -> dead after
delivery.max_attempts; merged (a later copy of a story already alerted on that channel);
digested (carried by a digest message, sent with it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from watcher.alert.format import format_item
from watcher.alert.send import send
from watcher.config.model import Channel, Delivery
from watcher.errors import StorageError
from watcher.model import Message
from watcher.store import LEASE, Outgoing, Store, node_name
from watcher.timeparse import iso, utcnow

log = logging.getLogger(__name__)

BATCH = 100  # rows fetched per round; a channel's drain loops until nothing is due
SLOW_FAILURE = 5.0  # seconds (or half the send timeout): a failure this slow pauses a channel
LEASE_MARGIN = 5.0  # seconds of a claim's lease kept free of sends (see _send_due)

Sender = Callable[[Channel, Message, float], str | None]


def backoff(attempts: int, delivery: Delivery) -> float:
    """Seconds to wait after the `attempts`-th failure: base doubling up to the cap."""
    return float(min(delivery.retry_cap, delivery.retry_base * 2 ** max(attempts - 1, 0)))


def compose(store: Store, channel: Channel, work: Outgoing, base_url: str | None = None) -> Message:
    """The message for one piece of work (an item's hits are rendered now, as one message
    naming every entity, with the story's copies)."""
    if work.hit is None:
        assert work.message is not None
        return work.message
    copies = store.story_copies(work.hit.story)
    return format_item(work.hits, channel, copies, base_url=base_url)


def record_attempt(
    store: Store, work: Outgoing, error: str | None, delivery: Delivery, now: datetime
) -> str:
    """Write the outcome of one send; returns the new status (sent, failed or dead).

    The next attempt waits the backoff, or longer when the service asked for it with
    Retry-After (a `Failure`'s retry_after, at most a day).
    """
    if error is None:
        store.mark_sent(work, iso(now))
        return "sent"
    attempts = work.attempts + 1
    dead = attempts >= delivery.max_attempts
    wait = max(backoff(attempts, delivery), getattr(error, "retry_after", None) or 0.0)
    retry_at = None if dead else iso(now + timedelta(seconds=wait))
    store.mark_failed(work, error, retry_at, iso(now))
    return "dead" if dead else "failed"


async def dispatch(
    store: Store, channels: tuple[Channel, ...], *, delivery: Delivery | None = None
) -> tuple[int, int]:
    """Send every due delivery and message now; returns (sent, failed)."""
    return await Dispatcher(store, channels, delivery, report=logging.DEBUG).drain()


class Dispatcher:
    """Sends what is due, one task per channel; `kick()` starts, `drain()` also waits."""

    def __init__(
        self,
        store: Store,
        channels: Iterable[Channel],
        delivery: Delivery | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        sender: Sender = send,
        report: int = logging.INFO,
        node: str | None = None,
        lease: float = LEASE,
        base_url: str | None = None,
    ) -> None:
        self.store = store
        self.node = node or node_name()  # who claims the rows it sends
        self.lease = lease
        self.channels = {c.name: c for c in channels}
        self.delivery = delivery or Delivery()
        self.clock = clock
        self.sender = sender
        self.report = report  # log level of "N alerts sent" (a CLI prints its own summary)
        self.base_url = base_url  # [web] base_url: alerts link to the hit's page
        self.sent = 0
        self.failed = 0
        self.closing = False
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def use(
        self, channels: Iterable[Channel], delivery: Delivery, base_url: str | None = None
    ) -> None:
        """Send to a reloaded config's channels from now on (drains running finish as they are)."""
        self.channels = {c.name: c for c in channels}
        self.delivery = delivery
        self.base_url = base_url

    def kick(self) -> None:
        """Start a drain for every channel that has none running; returns at once."""
        loop = asyncio.get_running_loop()
        for name, channel in self.channels.items():
            if self.closing:
                return
            task = self._tasks.get(name)
            if task is None or task.done():
                task = loop.create_task(self._drain(channel), name=f"send to {name}")
                task.add_done_callback(_log_crash)
                self._tasks[name] = task

    async def drain(self) -> tuple[int, int]:
        """Send everything due now on every channel; returns (sent, failed) of this call."""
        sent, failed = self.sent, self.failed
        self.kick()
        await asyncio.gather(*self._tasks.values())
        return self.sent - sent, self.failed - failed

    async def close(self, grace: float) -> None:
        """Stop starting sends; give the ones in flight `grace` seconds to finish and be recorded."""
        self.closing = True
        running = [t for t in self._tasks.values() if not t.done()]
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _drain(self, channel: Channel) -> None:
        sent = self.sent
        try:
            await self._send_due(channel)
        except StorageError as exc:
            # The database went away: what was claimed stays leased and is sent once it is
            # back (by this daemon or another, after the lease).
            log.warning("channel %s: sends paused: %s", channel.name, exc.message)
        finally:
            if self.sent > sent:
                count = self.sent - sent
                alerts = "1 alert" if count == 1 else f"{count} alerts"
                log.log(self.report, "channel %s: %s sent", channel.name, alerts)

    async def _send_due(self, channel: Channel) -> None:
        while True:
            work = self.store.claim_work(
                channel.name,
                iso(self.clock()),
                node=self.node,
                lease=self.lease,
                hits=channel.schedule.immediate,
                limit=BATCH,
            )
            if not work:
                return
            claimed = time.monotonic()
            # Stop using a claim before a send could outlive it: past its lease another
            # daemon may take the rows, and a send then would be a duplicate.
            budget = self.lease - self.delivery.timeout - LEASE_MARGIN
            for n, item in enumerate(work):
                if self.closing or (n and time.monotonic() - claimed > budget):
                    self.store.release_work(work[n:], self.node)
                    if self.closing:
                        return
                    break
                if not await self._send_one(channel, item):
                    # The service hangs: stop here rather than time out on every row; the
                    # next dispatch tries again (this row only once its backoff has passed).
                    self.store.release_work(work[n + 1 :], self.node)
                    return

    async def _send_one(self, channel: Channel, item: Outgoing) -> bool:
        """Send one claimed row and record the outcome; False when the channel seems hung."""
        message = compose(self.store, channel, item, self.base_url)
        began = time.monotonic()
        error = await asyncio.to_thread(self.sender, channel, message, self.delivery.timeout)
        took = time.monotonic() - began
        status = record_attempt(self.store, item, error, self.delivery, self.clock())
        if error is None:
            self.sent += 1
            log.debug("channel %s: %s #%d sent", channel.name, item.kind, item.id)
            return True
        self.failed += 1
        log.warning(
            "channel %s: %s #%d %s (attempt %d): %s",
            channel.name,
            item.kind,
            item.hit.id if item.hit else item.id,
            "is dead" if status == "dead" else "will be retried",
            item.attempts + 1,
            error,
        )
        return took < min(SLOW_FAILURE, self.delivery.timeout / 2)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed: %r", task.get_name(), task.exception())
