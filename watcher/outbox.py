"""The outbox: deliveries and messages waiting to be sent, retried with backoff, never lost.

A hit's deliveries are written with the hit (Store.save_poll); digests and health alerts are
rows of `messages`. The dispatcher drains each channel in its own task, so a channel that is
down or slow never holds up another. A row is marked sent only after apprise confirmed the
send, so a crash (even kill -9) at worst re-sends the one message that was in flight.

Statuses: pending -> sent | failed (retried at next_attempt_at) -> ... -> dead after
delivery.max_attempts; merged (a later copy of a story already alerted on that channel);
digested (carried by a digest message, sent with it).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from watcher.alert import Message, render_hit, send
from watcher.config import Channel, Delivery
from watcher.errors import StorageError
from watcher.store import Store
from watcher.story import story_copies

log = logging.getLogger(__name__)

STATUSES = ("pending", "failed", "dead", "sent", "merged", "digested")
BATCH = 100  # rows fetched per round; a channel's drain loops until nothing is due
SLOW_FAILURE = 5.0  # seconds (or half the send timeout): a failure this slow pauses a channel

Sender = Callable[[Channel, Message, float], str | None]


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


def backoff(attempts: int, delivery: Delivery) -> float:
    """Seconds to wait after the `attempts`-th failure: base doubling up to the cap."""
    return float(min(delivery.retry_cap, delivery.retry_base * 2 ** max(attempts - 1, 0)))


@dataclass(frozen=True)
class Work:
    """One thing to send: a hit's delivery or a message (digest, health alert)."""

    table: str  # "deliveries" or "messages"
    id: int
    attempts: int
    row: dict[str, Any]


def due_work(store: Store, channel: Channel, now: datetime, limit: int = BATCH) -> list[Work]:
    """What `channel` should send now, oldest first (hits only when it is not a digest)."""
    at = iso(now)
    work = []
    if channel.digest == "immediate":
        for row in store.db.query(
            """SELECT d.id, d.attempts, d.created, h.id AS hit_id, h.entity, h.matched,
                      h.snippet, h.topics, h.story_id AS story, i.title, i.link,
                      COALESCE(i.published, i.discovered) AS published, i.source
               FROM deliveries d JOIN hits h ON h.id = d.hit_id JOIN items i ON i.id = h.item_id
               WHERE d.channel = ? AND d.status IN ('pending', 'failed')
                 AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?)
               ORDER BY d.id LIMIT ?""",
            [channel.name, at, limit],
        ):
            work.append(Work("deliveries", row["id"], row["attempts"], row))
    for row in store.db.query(
        """SELECT * FROM messages WHERE channel = ? AND status IN ('pending', 'failed')
             AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?""",
        [channel.name, at, limit],
    ):
        work.append(Work("messages", row["id"], row["attempts"], row))
    return sorted(work, key=lambda w: (w.row["created"], w.table, w.id))


def compose(store: Store, channel: Channel, work: Work) -> Message:
    """The message for one piece of work (a hit is rendered now, with its story's copies)."""
    if work.table == "messages":
        return Message(work.row["title"], work.row["body"], work.row["body_format"])
    return render_hit(work.row, channel, story_copies(store.db, work.row["story"]))


def record_attempt(
    store: Store, work: Work, error: str | None, delivery: Delivery, now: datetime
) -> str:
    """Write the outcome of one send; returns the new status (sent, failed or dead)."""
    at = iso(now)
    table = work.table
    with store.writing("the outcome of a send"):
        if error is None:
            store.db.execute(
                f"UPDATE {table} SET status = 'sent', attempts = attempts + 1, last_error = NULL,"
                " next_attempt_at = NULL, updated = ?, sent_at = ? WHERE id = ?",
                [at, at, work.id],
            )
            if table == "messages":  # the hits a digest carried are sent with it
                store.db.execute(
                    "UPDATE deliveries SET status = 'sent', updated = ?, sent_at = ? "
                    "WHERE message_id = ? AND status = 'digested'",
                    [at, at, work.id],
                )
            return "sent"
        attempts = work.attempts + 1
        dead = attempts >= delivery.max_attempts
        retry_at = None if dead else iso(now + timedelta(seconds=backoff(attempts, delivery)))
        store.db.execute(
            f"UPDATE {table} SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ?,"
            " updated = ? WHERE id = ?",
            ["dead" if dead else "failed", attempts, error[:1000], retry_at, at, work.id],
        )
    return "dead" if dead else "failed"


def enqueue_message(
    db: sqlite_utils.Database, channel: str, kind: str, subject: str, message: Message, at: str
) -> int:
    """Queue a message that is not one hit (inside the caller's transaction); returns its id."""
    cur = db.execute(
        "INSERT INTO messages (channel, kind, subject, title, body, body_format, created, "
        "updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [channel, kind, subject, message.title, message.body, message.body_format, at, at],
    )
    return int(cur.lastrowid or 0)


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
    ) -> None:
        self.store = store
        self.channels = {c.name: c for c in channels}
        self.delivery = delivery or Delivery()
        self.clock = clock
        self.sender = sender
        self.report = report  # log level of "N alerts sent" (a CLI prints its own summary)
        self.sent = 0
        self.failed = 0
        self.closing = False
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def use(self, channels: Iterable[Channel], delivery: Delivery) -> None:
        """Send to a reloaded config's channels from now on (drains running finish as they are)."""
        self.channels = {c.name: c for c in channels}
        self.delivery = delivery

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
        finally:
            if self.sent > sent:
                log.log(self.report, "channel %s: %d alerts sent", channel.name, self.sent - sent)

    async def _send_due(self, channel: Channel) -> None:
        while True:
            work = due_work(self.store, channel, self.clock())
            if not work:
                return
            for item in work:
                if self.closing:
                    return
                message = compose(self.store, channel, item)
                began = time.monotonic()
                error = await asyncio.to_thread(
                    self.sender, channel, message, self.delivery.timeout
                )
                took = time.monotonic() - began
                status = record_attempt(self.store, item, error, self.delivery, self.clock())
                if error is None:
                    self.sent += 1
                    log.debug("channel %s: %s #%d sent", channel.name, item.table, item.id)
                    continue
                self.failed += 1
                log.warning(
                    "channel %s: %s #%d %s (attempt %d): %s",
                    channel.name,
                    "hit" if item.table == "deliveries" else item.row["kind"],
                    item.row.get("hit_id", item.id),
                    "is dead" if status == "dead" else "will be retried",
                    item.attempts + 1,
                    error,
                )
                if took >= min(SLOW_FAILURE, self.delivery.timeout / 2):
                    # The service hangs: stop here rather than time out on every row; the
                    # next dispatch tries again (this row only once its backoff has passed).
                    return


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed: %r", task.get_name(), task.exception())


@contextmanager
def schema_errors() -> Iterator[None]:
    """A database not yet upgraded to the outbox and stories, read read-only: say what to do."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if any(name in str(exc) for name in ("messages", "next_attempt_at", "story_id")):
            raise StorageError(
                "this database was written by an older regwatch (no delivery outbox or stories)",
                hint="run `regwatch poll` once (or restart the daemon): it upgrades the database",
            ) from None
        raise


def list_deliveries(
    store: Store, *, status: str | None = None, channel: str | None = None, limit: int | None = 100
) -> list[dict[str, Any]]:
    """Deliveries and messages, newest first, optionally of one status and channel."""
    where, args = [], []
    if status:
        where.append("status = ?")
        args.append(status)
    if channel:
        where.append("channel = ?")
        args.append(channel)
    sql = f"""SELECT * FROM (
          SELECT 'hit' AS kind, d.id, d.channel, d.status, d.attempts,
                 d.next_attempt_at AS next_attempt, d.created, d.sent_at, h.id AS hit_id,
                 h.story_id AS story, h.entity, i.source, i.title, d.message_id AS digest,
                 d.last_error AS error
          FROM deliveries d JOIN hits h ON h.id = d.hit_id JOIN items i ON i.id = h.item_id
          UNION ALL
          SELECT m.kind, m.id, m.channel, m.status, m.attempts, m.next_attempt_at, m.created,
                 m.sent_at, NULL, NULL, NULL, NULL, m.subject, NULL, m.last_error
          FROM messages m)
        {"WHERE " + " AND ".join(where) if where else ""}
        ORDER BY created DESC, id DESC"""
    if limit:
        sql += f" LIMIT {int(limit)}"
    return list(store.db.query(sql, args))


def retry_deliveries(store: Store, *, dead: bool = False, channel: str | None = None) -> int:
    """Make failed deliveries due now (and dead ones pending again with `dead`); returns count."""
    count = 0
    only = " AND channel = ?" if channel else ""
    extra = [channel] if channel else []
    with store.writing("re-queued deliveries"):
        for table in ("deliveries", "messages"):
            cur = store.db.execute(
                f"UPDATE {table} SET next_attempt_at = NULL WHERE status = 'failed'{only}", extra
            )
            count += cur.rowcount
            if dead:
                cur = store.db.execute(
                    f"UPDATE {table} SET status = 'pending', attempts = 0, next_attempt_at = NULL"
                    f" WHERE status = 'dead'{only}",
                    extra,
                )
                count += cur.rowcount
    return count
