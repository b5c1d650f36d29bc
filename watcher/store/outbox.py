"""The outbox's rows: deliveries (a hit to a channel) and messages (digests, health alerts).

A source's health lives here too: a change of health is recorded with its alerts.

Statuses: pending -> sent | failed (retried at next_attempt_at) -> ... -> dead; merged (a
later copy of a story already alerted on that channel); digested (carried by a digest
message, sent with it). A row is marked sent only after the send succeeded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from watcher.errors import StorageError
from watcher.model import Hit, Message
from watcher.store.base import StoreBase, hit_from_row

STATUSES = ("pending", "failed", "dead", "sent", "merged", "digested")


@dataclass(frozen=True)
class SourceHealth:
    """What a source's health is judged on, as stored."""

    failures: int
    first_poll_at: str | None
    newest_item_at: str | None  # when its newest item was discovered
    health: str  # the state last alerted: "ok", "failing" or "stale"
    last_error: str | None


@dataclass(frozen=True)
class Outgoing:
    """One thing due on a channel: an item's deliveries (one message), or a queued message.

    An item with hits for several entities on one channel is one message: `hit` is its
    first hit (delivery `id`), `also` the others as (delivery id, hit). They are sent,
    failed and retried together.
    """

    kind: str  # "hit", or a message's kind: "digest", "health"
    id: int  # of the (first) delivery or the message
    attempts: int  # the most of any of its deliveries
    created: str
    hit: Hit | None = None
    message: Message | None = None
    also: tuple[tuple[int, Hit], ...] = ()

    @property
    def table(self) -> str:
        return "deliveries" if self.kind == "hit" else "messages"

    @property
    def ids(self) -> list[int]:
        """The rows this one message stands for."""
        return [self.id, *(delivery for delivery, _ in self.also)]

    @property
    def hits(self) -> list[Hit]:
        return ([self.hit] if self.hit else []) + [hit for _, hit in self.also]


class OutboxStore(StoreBase):
    def claim_work(
        self, channel: str, now: str, *, node: str, lease: float, hits: bool, limit: int
    ) -> list[Outgoing]:
        """Claim what `channel` should send at `now`, oldest first; its hits only when `hits`.

        The rows are leased to `node` for `lease` seconds: other daemons skip them until
        the lease ends (it ends early when the send is recorded, or `release_work`). With a
        due delivery come the other deliveries of the same item on `channel` that are
        waiting (pending or failed, even if not yet due): one message names them all.
        """
        work: list[Outgoing] = []
        with self.writing("claimed alerts"):
            if hits:
                ids = self._claim("deliveries", channel, now, node, lease, limit)
                if ids:
                    ids += self._claim_siblings(channel, ids, node, lease)
                    work += self._item_work(ids)
            ids = self._claim("messages", channel, now, node, lease, limit)
            for row in (
                self._query(f"SELECT * FROM messages WHERE id IN ({','.join('?' * len(ids))})", ids)
                if ids
                else []
            ):
                message = Message(row["title"], row["body"], row["body_format"])
                work.append(
                    Outgoing(row["kind"], row["id"], row["attempts"], row["created"], None, message)
                )
        return sorted(work, key=lambda w: (w.created, w.table, w.id))

    def _item_work(self, ids: list[int]) -> list[Outgoing]:
        """The claimed deliveries `ids` as work: one Outgoing per item, hits in id order."""
        rows = self._query(
            f"""SELECT d.id AS delivery_id, d.attempts, d.created AS delivery_created,
                  {self.hit_columns()}
               FROM deliveries d JOIN hits h ON h.id = d.hit_id
               JOIN items i ON i.id = h.item_id
               WHERE d.id IN ({",".join("?" * len(ids))}) ORDER BY d.id""",
            ids,
        )
        items: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            items.setdefault(row["item_id"], []).append(row)
        work = []
        for group in items.values():
            first = group[0]
            work.append(
                Outgoing(
                    "hit",
                    first["delivery_id"],
                    max(r["attempts"] for r in group),
                    min(r["delivery_created"] for r in group),
                    hit=hit_from_row(first),
                    also=tuple((r["delivery_id"], hit_from_row(r)) for r in group[1:]),
                )
            )
        return work

    def _claim_siblings(self, channel: str, ids: list[int], node: str, lease: float) -> list[int]:
        """Lease the waiting deliveries on `channel` of the items of deliveries `ids`."""
        marks = ",".join("?" * len(ids))
        stamp = self.dialect.stamp()
        siblings = [
            int(r[0])
            for r in self._execute(
                f"""SELECT id FROM deliveries WHERE channel = ?
                    AND status IN ('pending', 'failed') AND id NOT IN ({marks})
                    AND (lease_until IS NULL OR lease_until <= {stamp})
                    AND hit_id IN (SELECT h.id FROM hits h WHERE h.item_id IN (
                        SELECT h2.item_id FROM hits h2 JOIN deliveries d2 ON d2.hit_id = h2.id
                        WHERE d2.id IN ({marks})))
                    ORDER BY id{self.dialect.skip_locked}""",
                [channel, *ids, 0.0, *ids],
            ).fetchall()
        ]
        self._lease("deliveries", siblings, node, lease)
        return siblings

    def _lease(self, table: str, ids: list[int], node: str, lease: float) -> None:
        if ids:
            lease = lease if self.dialect.shared else 0.0  # see Dialect.shared
            self._execute(
                f"UPDATE {table} SET lease_node = ?, lease_until = {self.dialect.stamp()} "
                f"WHERE id IN ({','.join('?' * len(ids))})",
                [node, lease, *ids],
            )

    def _claim(
        self, table: str, channel: str, now: str, node: str, lease: float, limit: int
    ) -> list[int]:
        """Lease the due rows of `table` (inside the caller's transaction); their ids."""
        stamp = self.dialect.stamp()
        ids = [
            int(r[0])
            for r in self._execute(
                f"""SELECT id FROM {table} WHERE channel = ? AND status IN ('pending', 'failed')
                    AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
                    AND (lease_until IS NULL OR lease_until <= {stamp})
                    ORDER BY id LIMIT ?{self.dialect.skip_locked}""",
                [channel, now, 0.0, limit],
            ).fetchall()
        ]
        self._lease(table, ids, node, lease)
        return ids

    def release_work(self, work: list[Outgoing], node: str) -> None:
        """Give back claimed rows not sent: another daemon (or this one) may take them now."""
        with self.writing("released alerts"):
            for table in ("deliveries", "messages"):
                ids = [i for w in work if w.table == table for i in w.ids]
                if ids:
                    self._execute(
                        f"UPDATE {table} SET lease_node = NULL, lease_until = NULL "
                        f"WHERE lease_node = ? AND id IN ({','.join('?' * len(ids))})",
                        [node, *ids],
                    )

    def mark_sent(self, work: Outgoing, at: str) -> None:
        """A send succeeded: the row (and the hits a digest carried) are sent."""
        sql = (
            f"UPDATE {work.table} SET status = 'sent', attempts = attempts + 1, "
            "last_error = NULL, next_attempt_at = NULL, lease_node = NULL, lease_until = NULL, "
            f"updated = ?, sent_at = ? WHERE id IN ({','.join('?' * len(work.ids))})"
        )
        if work.table == "deliveries":  # one statement: no transaction around it
            self._write("the outcome of a send", sql, [at, at, *work.ids])
            return
        with self.writing("the outcome of a send"):
            self._execute(sql, [at, at, *work.ids])
            if work.table == "messages":
                self._execute(
                    "UPDATE deliveries SET status = 'sent', updated = ?, sent_at = ? "
                    "WHERE message_id = ? AND status = 'digested'",
                    [at, at, work.id],
                )

    def mark_failed(self, work: Outgoing, error: str, retry_at: str | None, at: str) -> None:
        """A send failed: retried at `retry_at`, or dead when that is None (every row of
        the message alike: they are sent together)."""
        self._write(
            "the outcome of a send",
            f"UPDATE {work.table} SET status = ?, attempts = ?, last_error = ?, "
            "next_attempt_at = ?, lease_node = NULL, lease_until = NULL, updated = ? "
            f"WHERE id IN ({','.join('?' * len(work.ids))})",
            [
                "failed" if retry_at else "dead",
                work.attempts + 1,
                error[:1000],
                retry_at,
                at,
                *work.ids,
            ],
        )

    # -- source health ---------------------------------------------------------------------------

    def source_health(self, name: str) -> SourceHealth | None:
        """What the source's health is judged on, or None if it was never polled."""
        rows = self._query(
            """SELECT failures, first_poll_at, health, last_error,
                      (SELECT MAX(discovered) FROM items WHERE source = s.name) AS newest
               FROM sources s WHERE name = ?""",
            [name],
        )
        if not rows:
            return None
        r = rows[0]
        return SourceHealth(
            r["failures"], r["first_poll_at"], r["newest"], r["health"], r["last_error"]
        )

    def change_health(
        self,
        name: str,
        change: tuple[str, str],
        at: str,
        alerts: list[tuple[str, str, str, Message]],
    ) -> bool:
        """Record a source's new health and queue its alerts (channel, kind, subject, message).

        `change` is (the health judged on, the new one): when another daemon recorded a
        change meanwhile, nothing is written and this returns False, so each change of
        state is alerted once.
        """
        previous, state = change
        with self.writing("a source's health"):
            cur = self._execute(
                "UPDATE sources SET health = ?, health_since = ? WHERE name = ? AND health = ?",
                [state, at, name, previous],
            )
            if not cur.rowcount:
                return False
            for channel, kind, subject, message in alerts:
                self.enqueue_message(channel, kind, subject, message, at)
        return True

    def enqueue_message(
        self, channel: str, kind: str, subject: str, message: Message, at: str
    ) -> int:
        """Queue a message that is not one hit (inside the caller's transaction); returns its id."""
        message_id = self._insert(
            "INSERT INTO messages (channel, kind, subject, title, body, body_format, created, "
            "updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [channel, kind, subject, message.title, message.body, message.body_format, at, at],
        )
        assert message_id is not None
        return message_id

    # -- digests ---------------------------------------------------------------------------------

    def digest_slot(self, channel: str) -> str | None:
        """The last digest slot recorded for `channel` (None: never seen)."""
        value = self._value("SELECT last_slot FROM digest_state WHERE channel = ?", [channel])
        return str(value) if value is not None else None

    def advance_digest_slot(self, channel: str, slot: str) -> bool | None:
        """Record `slot` as `channel`'s last digest slot (inside the caller's transaction).

        True: it follows an earlier slot, so this caller queues that period's digest; False:
        the channel's first slot (nothing to send yet); None: the channel is already at or
        past it (another daemon got there first: it queues the digest, not us).
        """
        cur = self._execute(
            "UPDATE digest_state SET last_slot = ? WHERE channel = ? AND last_slot < ?",
            [slot, channel, slot],
        )
        if cur.rowcount:
            return True
        cur = self._execute(
            "INSERT INTO digest_state (channel, last_slot) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [channel, slot],
        )
        return False if cur.rowcount else None

    def digest_hits(self, channel: str) -> list[tuple[int, Hit]]:
        """The pending deliveries of a digest channel: (delivery id, hit), newest first."""
        rows = self._query(
            f"""SELECT d.id AS delivery_id, {self.hit_columns()}
               FROM deliveries d JOIN hits h ON h.id = d.hit_id JOIN items i ON i.id = h.item_id
               WHERE d.channel = ? AND d.status = 'pending'
               ORDER BY published DESC, h.id DESC""",
            [channel],
        )
        return [(r["delivery_id"], hit_from_row(r)) for r in rows]

    def set_message(self, message_id: int, message: Message) -> None:
        self._execute(
            "UPDATE messages SET title = ?, body = ?, body_format = ? WHERE id = ?",
            [message.title, message.body, message.body_format, message_id],
        )

    def mark_digested(self, delivery_ids: list[int], message_id: int, at: str) -> None:
        """These deliveries wait in digest `message_id` (inside the caller's transaction)."""
        for i in range(0, len(delivery_ids), 500):
            chunk = delivery_ids[i : i + 500]
            self._execute(
                f"UPDATE deliveries SET status = 'digested', message_id = ?, updated = ? "
                f"WHERE id IN ({','.join('?' * len(chunk))})",
                [message_id, at, *chunk],
            )

    # -- what users see and do -------------------------------------------------------------------

    def list_deliveries(
        self, *, status: str | None = None, channel: str | None = None, limit: int | None = 100
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
              FROM messages m) AS outbox
            {"WHERE " + " AND ".join(where) if where else ""}
            ORDER BY created DESC, id DESC"""
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self.schema_errors():
            return self._query(sql, args)

    def retry_deliveries(self, *, dead: bool = False, channel: str | None = None) -> int:
        """Make failed deliveries due now (and dead ones pending again with `dead`); a count."""
        count = 0
        only = " AND channel = ?" if channel else ""
        extra = [channel] if channel else []
        with self.writing("re-queued deliveries"):
            for table in ("deliveries", "messages"):
                cur = self._execute(
                    f"UPDATE {table} SET next_attempt_at = NULL WHERE status = 'failed'{only}",
                    extra,
                )
                count += cur.rowcount
                if dead:
                    cur = self._execute(
                        f"UPDATE {table} SET status = 'pending', attempts = 0, "
                        f"next_attempt_at = NULL WHERE status = 'dead'{only}",
                        extra,
                    )
                    count += cur.rowcount
        return count

    @contextlib.contextmanager
    def schema_errors(self) -> Iterator[None]:
        """A database not yet upgraded to the outbox and stories, read read-only: say what to do."""
        try:
            yield
        except self.engine.errors as exc:
            if any(name in str(exc) for name in ("messages", "next_attempt_at", "story_id")):
                raise StorageError(
                    "this database was written by an older regwatch (no delivery outbox or "
                    "stories)",
                    hint="run `regwatch poll` once (or restart the daemon): it upgrades the "
                    "database",
                ) from None
            raise

    def delivery_counts(self) -> dict[tuple[str, str], int]:
        """Deliveries by (channel, status)."""
        rows = self._execute(
            "SELECT channel, status, COUNT(*) FROM deliveries GROUP BY channel, status"
        ).fetchall()
        return {(channel, status): n for channel, status, n in rows}
