"""What `regwatch status` shows: the daemon, its sources, the outbox, the database size.

The running daemon keeps one row in the `daemon` table (pid, start, heartbeat); whether
it is alive comes from the lock (the kernel's word), the heartbeat says whether it works.
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
        row = store.daemon_row()
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
        by_status: dict[str, int] = {}
        for (_, state), n in sorted(store.delivery_counts().items(), key=lambda kv: kv[0][1]):
            by_status[state] = by_status.get(state, 0) + n
        status["deliveries"] = {"pending": 0, "failed": 0, "dead": 0} | by_status
    finally:
        store.close()
    return status


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
