"""The SQL of the web view: Datasette's canned queries, and whether a database can be shown."""

from __future__ import annotations

import sqlite3
from pathlib import Path

# The canned queries of the web view; each page has CSV and JSON export like every other.
QUERIES: dict[str, dict[str, str]] = {
    "hits_this_week_by_entity": {
        "title": "Hits this week by entity",
        "description": "Hits whose item was published (or found) in the last 7 days.",
        "sql": """SELECT h.entity, COUNT(*) AS hits, COUNT(DISTINCT i.source) AS sources,
       MAX(COALESCE(i.published, i.discovered)) AS latest
FROM hits h JOIN items i ON i.id = h.item_id
WHERE COALESCE(i.published, h.created) >= date('now', '-7 days')
GROUP BY h.entity ORDER BY hits DESC, h.entity""",
    },
    "failing_sources": {
        "title": "Failing sources",
        "description": "Sources whose last poll failed, most consecutive failures first.",
        "sql": """SELECT name, last_status, http_status, failures, last_error, last_poll_at,
       last_success_at, url
FROM sources WHERE failures > 0 OR last_status = 'error'
ORDER BY failures DESC, name""",
    },
    "undelivered_alerts": {
        "title": "Undelivered alerts",
        "description": "Alerts not sent yet: pending, or failed and waiting for a retry.",
        "sql": """SELECT d.id, d.channel, d.status, d.attempts, d.last_error, d.created,
       h.entity, i.title, i.link, i.source
FROM deliveries d JOIN hits h ON h.id = d.hit_id JOIN items i ON i.id = h.item_id
WHERE d.status != 'sent' ORDER BY d.created DESC, d.id DESC""",
    },
    "hits_per_week": {
        "title": "Hits per week by entity (last 90 days)",
        "description": "The numbers behind the chart at /-/stats.",
        "sql": """SELECT date(substr(COALESCE(i.published, h.created), 1, 10), 'weekday 0',
            '-6 days') AS week, h.entity, COUNT(*) AS hits
FROM hits h JOIN items i ON i.id = h.item_id
WHERE COALESCE(i.published, h.created) >= date('now', '-90 days')
GROUP BY week, h.entity ORDER BY week, h.entity""",
    },
}


def has_latest_hits(path: Path) -> bool:
    """True when the database has the `latest_hits` view the web view starts from."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'view' AND name = 'latest_hits'"
        ).fetchone()
    except sqlite3.DatabaseError:
        return False
    finally:
        conn.close()
    return found is not None
