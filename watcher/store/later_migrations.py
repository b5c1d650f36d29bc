"""Migrations 070 and later, the steps of `migrations.MIGRATIONS` (kept apart by size).

070-072: the evidence behind each hit and the review workflow (issue 13). 080-081: several
daemons on one PostgreSQL database, and what the web view's copy of it needs (issue 12).
As in migrations.py: SQLite's DDL, which `Schema` hands PostgreSQL with its own types.
"""

from __future__ import annotations

from watcher.store.engine import Schema


def _m070_evidence(db: Schema) -> None:
    # The HTTP responses behind each hit, kept at match time (store/evidence.py). Bodies are
    # compressed and content-addressed: one row per distinct body, however many captures.
    for sql in (
        """CREATE TABLE evidence_bodies (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            codec TEXT NOT NULL,
            data BLOB NOT NULL
        )""",
        # One fetch: what was asked, what came back (headers as received, JSON [[name, value]]).
        """CREATE TABLE captures (
            id INTEGER PRIMARY KEY,
            role TEXT NOT NULL,
            url TEXT NOT NULL,
            final_url TEXT NOT NULL,
            status INTEGER NOT NULL,
            reason TEXT NOT NULL,
            http_version TEXT NOT NULL,
            headers TEXT NOT NULL,
            request_headers TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            sha256 TEXT NOT NULL REFERENCES evidence_bodies(sha256)
        )""",
        "CREATE INDEX captures_sha256 ON captures (sha256)",
        """CREATE TABLE hit_captures (
            hit_id INTEGER NOT NULL REFERENCES hits(id),
            capture_id INTEGER NOT NULL REFERENCES captures(id),
            PRIMARY KEY (hit_id, capture_id)
        )""",
        "CREATE INDEX hit_captures_capture ON hit_captures (capture_id)",
        # Per hit: who matched it (version, config) and, once pruned, when and why.
        """CREATE TABLE hit_evidence (
            hit_id INTEGER PRIMARY KEY REFERENCES hits(id),
            version TEXT NOT NULL,
            config_sha256 TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            pruned_at TEXT,
            pruned_why TEXT
        )""",
    ):
        db.execute(sql)


def _m071_review(db: Schema) -> None:
    # A review status on every hit, and the append-only log of every change (store/review.py).
    for sql in (
        "ALTER TABLE hits ADD COLUMN review_status TEXT NOT NULL DEFAULT 'new'",
        "ALTER TABLE hits ADD COLUMN reviewed_by TEXT",
        "ALTER TABLE hits ADD COLUMN reviewed_at TEXT",
        "ALTER TABLE hits ADD COLUMN review_note TEXT",
        "CREATE INDEX hits_review_status ON hits (review_status, created)",
        """CREATE TABLE review_log (
            id INTEGER PRIMARY KEY,
            hit_id INTEGER NOT NULL REFERENCES hits(id),
            at TEXT NOT NULL,
            reviewer TEXT NOT NULL,
            from_status TEXT NOT NULL,
            to_status TEXT NOT NULL,
            note TEXT
        )""",
        "CREATE INDEX review_log_hit ON review_log (hit_id)",
        "CREATE INDEX review_log_at ON review_log (at)",
    ):
        db.execute(sql)


def _m072_latest_hits_status(db: Schema) -> None:
    # The web view's latest_hits gains each hit's review status (a facet for analysts).
    db.execute("DROP VIEW IF EXISTS latest_hits")
    db.execute(
        """CREATE VIEW latest_hits AS
    SELECT h.id, h.entity, i.title, i.link, h.snippet, h.matched, i.source,
           COALESCE(i.published, i.discovered) AS published, h.topics, h.created,
           h.item_id, h.review_status AS status, h.reviewed_by
    FROM hits h JOIN items i ON i.id = h.item_id
    ORDER BY h.created DESC, COALESCE(i.published, i.discovered) DESC, h.id DESC"""
    )


def _m080_cluster(db: Schema) -> None:
    # Several daemons on one database (PostgreSQL): a source is claimed before it is polled
    # (next_due_at, compare-and-set; a lease while the poll runs), a delivery or message
    # before it is sent (a lease, taken over once it expires); each daemon is a node with a
    # heartbeat and what it did last, for `regwatch status`.
    for table, columns in (
        ("sources", ("next_due_at", "lease_node", "lease_until")),
        ("deliveries", ("lease_node", "lease_until")),
        ("messages", ("lease_node", "lease_until")),
    ):
        for column in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
    db.execute(
        """CREATE TABLE nodes (
            name TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            version TEXT NOT NULL,
            config TEXT NOT NULL,
            started_at TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL,
            stopped_at TEXT,
            polls INTEGER NOT NULL DEFAULT 0,
            sent INTEGER NOT NULL DEFAULT 0,
            last_action TEXT,
            last_action_at TEXT
        )"""
    )


# Tables the web view's snapshot copies from PostgreSQL (snapshot.py): each one's key, and
# whether its deleted rows leave a tombstone (items lose their hits before their text; stories
# and sources are never deleted).
SNAPSHOT_TABLES = {
    "sources": ("name", False),
    "stories": ("id", False),
    "items": ("id", False),
    "hits": ("id", True),
    "deliveries": ("id", True),
}


def _m081_revisions(db: Schema) -> None:
    # PostgreSQL only: what changed since a snapshot of the hit tables was last refreshed
    # (`regwatch serve` reads a SQLite copy). Each row carries the id of the transaction
    # that last wrote it (rev); deleted rows leave a tombstone. SQLite is served directly.
    if not db.postgres:
        return
    db.execute(
        "CREATE TABLE tombstones (tbl TEXT NOT NULL, key TEXT NOT NULL, "
        "rev xid8 NOT NULL DEFAULT pg_current_xact_id(), at timestamptz NOT NULL DEFAULT now())"
    )
    db.execute("CREATE INDEX tombstones_rev ON tombstones (rev)")
    db.execute(
        "CREATE FUNCTION regwatch_touch() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.rev := pg_current_xact_id(); RETURN NEW; END $$"
    )
    db.execute(
        "CREATE FUNCTION regwatch_tombstone() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN INSERT INTO tombstones (tbl, key) "
        "VALUES (TG_TABLE_NAME, to_jsonb(OLD) ->> TG_ARGV[0]); RETURN OLD; END $$"
    )
    for table, (key, tombstone) in SNAPSHOT_TABLES.items():
        db.execute(f"ALTER TABLE {table} ADD COLUMN rev xid8 NOT NULL DEFAULT pg_current_xact_id()")
        db.execute(f"CREATE INDEX {table}_rev ON {table} (rev)")
        db.execute(
            f"CREATE TRIGGER {table}_touch BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION regwatch_touch()"
        )
        if tombstone:
            db.execute(
                f"CREATE TRIGGER {table}_tombstone AFTER DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION regwatch_tombstone('{key}')"
            )
