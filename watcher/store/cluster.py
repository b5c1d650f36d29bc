"""Several daemons on one database: nodes, and claims on sources before they are polled.

Each daemon is a node (default name `hostname:pid`) with a row in `nodes`: its heartbeat and
what it did last, for `regwatch status`. Before polling a source a daemon claims it with a
compare-and-set on the source's row: the claim succeeds only when the source is due
(`next_due_at` has passed) and no other poll holds it (`lease_until` has passed). The
winner moves `next_due_at` one interval on, so the others' scheduled polls of that
interval find it taken; its lease ends when the poll is recorded, or by itself after at
most a minute if the daemon died. Times are the database's clock, so the nodes' clocks may
differ. On SQLite, with one daemon, the same code runs with leases of no length: a claim
keeps no one out (only the due time counts, for the daemon's scheduled polls).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

from watcher.store.base import StoreBase
from watcher.timeparse import now_iso

LEASE = 60.0  # seconds a claim on a source, delivery or message lasts at most
LIVE_AFTER = 30.0  # seconds without a heartbeat after which a node no longer counts as live


def node_name() -> str:
    """This process's default node name: hostname:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class ClusterStore(StoreBase):
    _known_sources: set[str]  # sources this store has seen a row of (see claim_source)

    def claim_source(
        self, name: str, url: str, *, node: str, lease: float, next_due: float, due: bool
    ) -> bool:
        """Claim source `name` for one poll by `node`; False when another node has it.

        With `due`, only a source whose `next_due_at` has passed can be claimed (the
        daemon's scheduled polls); without, only a running poll elsewhere stops it
        (`regwatch poll`). A claim sets the next due time `next_due` seconds from now.
        """
        stamp = self.dialect.stamp()
        lease = lease if self.dialect.shared else 0.0
        what = f"a claim on source {name!r}"
        sql = (
            f"UPDATE sources SET lease_node = ?, lease_until = {stamp}, next_due_at = {stamp} "
            f"WHERE name = ? AND (lease_until IS NULL OR lease_until <= {stamp})"
        )
        args: list[Any] = [node, lease, next_due, name, 0.0]
        if due:
            sql += f" AND (next_due_at IS NULL OR next_due_at <= {stamp})"
            args.append(0.0)
        # Single statements, each atomic (the compare-and-set is the UPDATE's WHERE).
        if self._write(what, sql, args).rowcount:
            self._known_sources.add(name)
            return True
        if name in self._known_sources:
            return False  # due later, or being polled elsewhere
        # A source never polled may have no row yet: make one, then claim it.
        self._write(
            what,
            "INSERT INTO sources (name, url) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [name, url],
        )
        self._known_sources.add(name)
        return bool(self._write(what, sql, args).rowcount)

    def release_source(self, name: str, node: str) -> None:
        """End `node`'s claim on a source whose poll recorded nothing (skipped, gone)."""
        self._write(
            f"the end of a claim on source {name!r}",
            "UPDATE sources SET lease_node = NULL, lease_until = NULL "
            "WHERE name = ? AND lease_node = ?",
            [name, node],
        )

    # -- nodes ---------------------------------------------------------------------------------

    def record_start(self, node: str, host: str, pid: int, version: str, config: str) -> None:
        """Write (or rewrite) this node's row at start-up."""
        stamp = self.dialect.stamp()
        with self.writing("the daemon's start"):
            self._execute(
                f"""INSERT INTO nodes (name, host, pid, version, config, started_at, heartbeat_at,
                       stopped_at, polls, sent, last_action, last_action_at)
                    VALUES (?, ?, ?, ?, ?, {stamp}, {stamp}, NULL, 0, 0, NULL, NULL)
                    ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid,
                       version = excluded.version, config = excluded.config,
                       started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
                       stopped_at = NULL, polls = 0, sent = 0, last_action = NULL,
                       last_action_at = NULL""",
                [node, host, pid, version, config, 0.0, 0.0],
            )

    def record_heartbeat(
        self,
        node: str,
        *,
        polls: int = 0,
        sent: int = 0,
        action: str | None = None,
        action_at: str | None = None,
    ) -> None:
        """The node's scheduler is alive: stamp its row, with its counts and last action."""
        self._write(
            "the daemon's heartbeat",
            f"UPDATE nodes SET heartbeat_at = {self.dialect.stamp()}, polls = ?, sent = ?, "
            "last_action = COALESCE(?, last_action), "
            "last_action_at = COALESCE(?, last_action_at) WHERE name = ?",
            [0.0, polls, sent, action, action_at, node],
        )

    def record_stop(self, node: str) -> None:
        """A clean stop: stamp the node's row."""
        self._write(
            "the daemon's stop", "UPDATE nodes SET stopped_at = ? WHERE name = ?", [now_iso(), node]
        )

    def nodes(self) -> list[dict[str, Any]]:
        """Every node's row, newest start first, with `live` (a recent heartbeat, no stop)
        and `heartbeat_age` in seconds, both by the database's clock."""
        if "nodes" not in self.engine.table_names():
            return []  # a database no daemon of this version ran on (read-only here)
        rows = self._query(
            f"SELECT *, {self.dialect.stamp()} AS now FROM nodes ORDER BY started_at DESC, name",
            [0.0],
        )
        for row in rows:
            now = datetime.fromisoformat(row.pop("now"))
            age = (now - datetime.fromisoformat(row["heartbeat_at"])).total_seconds()
            row["heartbeat_age"] = max(age, 0.0)
            row["live"] = row["stopped_at"] is None and age < LIVE_AFTER
        return rows
