"""What `regwatch status` shows: the daemons, the sources, the outbox, the database size.

Each running daemon keeps a row in the `nodes` table (pid, start, heartbeat, what it did
last). On SQLite whether the daemon is alive comes from its lock (the kernel's word); on
PostgreSQL a node is live while its heartbeat is recent. The heartbeat says it works.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from watcher.config import Config
from watcher.daemon.lock import holder_pid
from watcher.store import Store, database_size
from watcher.timeparse import human_duration


def _age(stamp: str | None, now: datetime) -> float | None:
    if not stamp:
        return None
    return (now - datetime.fromisoformat(stamp)).total_seconds()


def collect_status(config: Config, now: datetime | None = None) -> dict[str, Any]:
    """Daemons (nodes), sources, deliveries and database size, from the database.

    On SQLite whether the daemon runs comes from its lock (the kernel's word); on
    PostgreSQL, where several may run, from the nodes' heartbeats.
    """
    now = now or datetime.now(UTC)
    path = config.storage_path
    pid = holder_pid(path) if path else None
    status: dict[str, Any] = {
        "daemon": {"running": pid is not None, "pid": pid if pid and pid > 0 else None},
        "nodes": [],
        "database": {"path": config.database_label, "bytes": database_size(path) if path else 0},
        "sources": [],
        "deliveries": {},
    }
    if path and not path.exists():
        return status
    store = Store(config.database, readonly=True)
    try:
        if not path:
            status["database"]["bytes"] = store.size()
        nodes = store.nodes()
        if path:  # one daemon per SQLite file: the lock holder is the live one
            for node in nodes:
                node["live"] = node["live"] and pid is not None and node["pid"] == pid
        status["nodes"] = [_node(n) for n in nodes]
        live = [n for n in nodes if n["live"]]
        if not path:
            status["daemon"]["running"] = bool(live)
        # The daemon line: this host's running node (SQLite: the lock holder), else the latest.
        row = next((n for n in nodes if pid and n["pid"] == pid), None) or (
            live[0] if live else (nodes[0] if nodes else None)
        )
        if row:
            running = status["daemon"]["running"]
            status["daemon"].update(
                started_at=row["started_at"],
                heartbeat_at=row["heartbeat_at"],
                stopped_at=row["stopped_at"],
                version=row["version"],
                host=row["host"],
                node=row["name"],
                uptime_seconds=_age(row["started_at"], now) if running else None,
                heartbeat_age_seconds=row["heartbeat_age"],
            )
            if not path and running:
                status["daemon"]["pid"] = row["pid"]
        stored = {r["name"]: r for r in store.source_report()}
        for source in config.sources:
            r = stored.get(source.name, {})
            status["sources"].append(
                {
                    "name": source.name,
                    "enabled": source.enabled,
                    "last_poll": r.get("last_poll_at"),
                    "last_success": r.get("last_success_at"),
                    "status": r.get("last_status") or "never polled",
                    "failures": r.get("failures") or 0,
                    "error": r.get("last_error"),
                }
            )
        by_status: dict[str, int] = {}
        for (_, state), n in sorted(store.delivery_counts().items(), key=lambda kv: kv[0][1]):
            by_status[state] = by_status.get(state, 0) + n
        status["deliveries"] = {"pending": 0, "failed": 0, "dead": 0} | by_status
    finally:
        store.close()
    return status


def _node(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": row["name"],
        "live": row["live"],
        "host": row["host"],
        "pid": row["pid"],
        "version": row["version"],
        "started_at": row["started_at"],
        "heartbeat_age_seconds": round(row["heartbeat_age"], 1),
        "stopped_at": row["stopped_at"],
        "polls": row["polls"],
        "sent": row["sent"],
        "last_action": row["last_action"],
        "last_action_at": row["last_action_at"],
    }


def format_status(status: dict[str, Any]) -> list[str]:
    """Human-readable lines for `regwatch status`."""
    d = status["daemon"]
    if d["running"]:
        who = f"pid {d['pid']}" if d.get("pid") else "pid unknown"
        line = f"daemon: running ({who}, up {human_duration(d.get('uptime_seconds'))}"
        line += f", heartbeat {human_duration(d.get('heartbeat_age_seconds'))} ago)"
    elif d.get("started_at"):
        line = f"daemon: not running (last started {d['started_at']}, "
        line += f"stopped {d.get('stopped_at') or 'without a clean stop'})"
    else:
        line = "daemon: not running (never started on this database)"
    lines = [line]
    live = [n for n in status.get("nodes", []) if n["live"]]
    if live:
        lines.append(f"nodes: {len(live)} live")
    for n in live:
        last = f"{n['last_action']} at {n['last_action_at']}" if n["last_action"] else "nothing yet"
        lines.append(
            f"  {n['name']:<24} heartbeat {human_duration(n['heartbeat_age_seconds'])} ago, "
            f"{n['polls']} polls, {n['sent']} sent; last: {last}"
        )
    db = status["database"]
    lines.append(f"database: {db['path']} ({db['bytes'] / 1e6:.1f} MB)")
    failing = [s for s in status["sources"] if s["failures"]]
    lines.append(f"sources: {len(status['sources'])}, failing: {len(failing)}")
    for s in status["sources"]:
        state = s["status"] if s["enabled"] else "disabled"
        extra = f" ({s['failures']} failures: {s['error']})" if s["failures"] else ""
        lines.append(f"  {s['name']:<24} last poll {s['last_poll'] or '-':<25} {state}{extra}")
    counts = status["deliveries"]
    shown = ", ".join(f"{n} {k}" for k, n in counts.items()) or "none"
    lines.append(f"deliveries: {shown}")
    return lines
