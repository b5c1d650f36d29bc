"""What `regwatch status` shows, and the daemon row it reads.

The running daemon keeps one row in the `daemon` table (pid, start, heartbeat); whether
it is alive comes from the lock (the kernel's word), the heartbeat says whether it works.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from typing import Any

from watcher import __version__
from watcher.config import Config
from watcher.lock import holder_pid
from watcher.retention import database_size
from watcher.store import Store, now_iso


def record_start(store: Store, config: Config) -> None:
    """Write the daemon row at start-up."""
    at = now_iso()
    store.db.table("daemon").upsert(
        {
            "id": 1,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "version": __version__,
            "config": str(config.path),
            "started_at": at,
            "heartbeat_at": at,
            "stopped_at": None,
        },
        pk="id",
    )


def record_heartbeat(store: Store) -> None:
    """The scheduler is alive: stamp the daemon row."""
    store.db.execute("UPDATE daemon SET heartbeat_at = ? WHERE id = 1", [now_iso()])
    store.db.conn.commit()


def record_stop(store: Store) -> None:
    """A clean stop: stamp the daemon row."""
    store.db.execute("UPDATE daemon SET stopped_at = ? WHERE id = 1", [now_iso()])
    store.db.conn.commit()


def _age(stamp: str | None, now: datetime) -> float | None:
    if not stamp:
        return None
    return (now - datetime.fromisoformat(stamp)).total_seconds()


def collect_status(config: Config, now: datetime | None = None) -> dict[str, Any]:
    """Daemon, sources, deliveries and database size, from the database and the lock."""
    now = now or datetime.now(UTC)
    path = config.storage_path
    pid = holder_pid(path)
    status: dict[str, Any] = {
        "daemon": {"running": pid is not None, "pid": pid if pid and pid > 0 else None},
        "database": {"path": str(path), "bytes": database_size(path)},
        "sources": [],
        "deliveries": {},
    }
    if not path.exists():
        return status
    store = Store(path, readonly=True)
    try:
        tables = set(store.db.table_names())
        row = (
            next(iter(store.db.query("SELECT * FROM daemon WHERE id = 1")), None)
            if "daemon" in tables
            else None
        )
        if row:
            status["daemon"].update(
                started_at=row["started_at"],
                heartbeat_at=row["heartbeat_at"],
                stopped_at=row["stopped_at"],
                version=row["version"],
                host=row["host"],
                uptime_seconds=_age(row["started_at"], now) if pid else None,
                heartbeat_age_seconds=_age(row["heartbeat_at"], now),
            )
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
        status["deliveries"] = {"pending": 0, "failed": 0, "dead": 0} | {
            r["status"]: r["n"]
            for r in store.db.query(
                "SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status ORDER BY status"
            )
        }
    finally:
        store.close()
    return status


def human_duration(seconds: float | None) -> str:
    """3725 -> "1h 2m"; None -> "-"."""
    if seconds is None:
        return "-"
    seconds = int(max(seconds, 0))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = (
        [f"{days}d"] * bool(days) + [f"{hours}h"] * bool(hours) + [f"{minutes}m"] * bool(minutes)
    )
    return " ".join(parts[:2]) if parts else f"{secs}s"


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
