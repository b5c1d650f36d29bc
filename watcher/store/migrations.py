"""Schema migrations of the hit database: append only; each runs once, in its own transaction.

`StoreBase.migrate()` applies the ones a database has not recorded in its `_migrations`
table. One numbered list serves both engines: a step writes SQLite's DDL, which `Schema`
hands PostgreSQL with its column types (dialect.py), and branches on `db.postgres` only
where the two differ beyond types (full-text search). A migration runs one statement per
execute(): executescript() would commit mid-migration.
"""

from __future__ import annotations

from collections.abc import Callable

from watcher.store.engine import Schema
from watcher.store.later_migrations import (
    _m070_evidence,
    _m071_review,
    _m072_latest_hits_status,
    _m080_cluster,
    _m081_revisions,
)


def _execute_each(db: Schema, script: str) -> None:
    """Run a DDL script statement by statement: executescript() would commit mid-migration."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _m001_initial(db: Schema) -> None:
    _execute_each(
        db,
        """
        CREATE TABLE sources (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            body_hash TEXT,
            first_poll_at TEXT,
            last_poll_at TEXT,
            last_success_at TEXT,
            last_status TEXT,
            http_status INTEGER,
            last_error TEXT,
            failures INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            key TEXT NOT NULL,
            title TEXT NOT NULL,
            link TEXT,
            published TEXT,
            discovered TEXT NOT NULL,
            text TEXT NOT NULL,
            UNIQUE (source, key)
        );
        CREATE TABLE hits (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES items(id),
            entity TEXT NOT NULL,
            matched TEXT NOT NULL,
            field TEXT NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            snippet TEXT NOT NULL,
            created TEXT NOT NULL,
            alerted INTEGER NOT NULL DEFAULT 1,
            UNIQUE (item_id, entity)
        );
        CREATE INDEX hits_created ON hits (created);
        CREATE INDEX hits_entity ON hits (entity);
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            hit_id INTEGER NOT NULL REFERENCES hits(id),
            channel TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            sent_at TEXT,
            UNIQUE (hit_id, channel)
        );
        CREATE INDEX deliveries_status ON deliveries (status);
        """,
    )


def _m002_hit_topics(db: Schema) -> None:
    # Topics found in the hit's item, as a JSON array of topic names.
    db.execute("ALTER TABLE hits ADD COLUMN topics TEXT NOT NULL DEFAULT '[]'")


def _m010_source_kinds(db: Schema) -> None:
    # items.extra: what a source kind knows beyond title and link, as a JSON object (the
    # press corner's "reference", "type" and "language"). sources: when the next poll may
    # run (backoff, Retry-After), where a permanent redirect led, and when a 410 disabled it.
    # One statement per execute(): executescript() would commit the migration's transaction.
    db.execute("ALTER TABLE items ADD COLUMN extra TEXT NOT NULL DEFAULT '{}'")
    db.execute("ALTER TABLE sources ADD COLUMN next_poll_at TEXT")
    db.execute("ALTER TABLE sources ADD COLUMN moved_to TEXT")
    db.execute("ALTER TABLE sources ADD COLUMN gone_at TEXT")


def _m030_search(db: Schema) -> None:
    if db.postgres:
        _m030_search_postgres(db)
        return
    # Full-text index over items, kept in step by triggers; existing rows are indexed here.
    # One statement per execute(): executescript() would commit the migration's transaction.
    for statement in FTS_SCHEMA:
        db.execute(statement)
    db.execute("INSERT INTO items_fts (items_fts) VALUES ('rebuild')")
    # Covers what ranking a search needs of each match (filters, date), so the rows and
    # their long texts are not read for thousands of matches.
    db.execute("CREATE INDEX items_day ON items (id, source, published, discovered)")
    # What the web view shows: one row per hit with its item (Datasette facets and searches it).
    db.execute(LATEST_HITS_VIEW)


# "content=[items]" is the form sqlite-utils writes and Datasette detects as the table's index.
FTS_SCHEMA = (
    "CREATE VIRTUAL TABLE items_fts USING FTS5 (title, text, content=[items], "
    "content_rowid=[id], tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER items_ai AFTER INSERT ON items BEGIN "
    "INSERT INTO items_fts (rowid, title, text) VALUES (new.id, new.title, new.text); END",
    "CREATE TRIGGER items_ad AFTER DELETE ON items BEGIN "
    "INSERT INTO items_fts (items_fts, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); END",
    "CREATE TRIGGER items_au AFTER UPDATE ON items BEGIN "
    "INSERT INTO items_fts (items_fts, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); "
    "INSERT INTO items_fts (rowid, title, text) VALUES (new.id, new.title, new.text); END",
)


def _m030_search_postgres(db: Schema) -> None:
    # PostgreSQL's full text: a generated tsvector (title weighted A, text B) in a text
    # search configuration that folds accents (unaccent) and case, like FTS5's unicode61
    # with remove_diacritics. unaccent is a trusted extension: the database's owner may
    # create it.
    for sql in (
        "CREATE EXTENSION IF NOT EXISTS unaccent",
        "CREATE TEXT SEARCH CONFIGURATION regwatch (COPY = simple)",
        "ALTER TEXT SEARCH CONFIGURATION regwatch ALTER MAPPING FOR word, hword, hword_part, "
        "numword, numhword, hword_numpart WITH unaccent, simple",
        "ALTER TABLE items ADD COLUMN search tsvector GENERATED ALWAYS AS "
        "(setweight(to_tsvector('regwatch', title), 'A') || "
        "setweight(to_tsvector('regwatch', text), 'B')) STORED",
        "CREATE INDEX items_search ON items USING gin (search)",
        "CREATE INDEX items_day ON items (id, source, published, discovered)",
        LATEST_HITS_VIEW,
    ):
        db.execute(sql)


LATEST_HITS_VIEW = """CREATE VIEW latest_hits AS
    SELECT h.id, h.entity, i.title, i.link, h.snippet, h.matched, i.source,
           COALESCE(i.published, i.discovered) AS published, h.topics, h.created,
           h.item_id
    FROM hits h JOIN items i ON i.id = h.item_id
    ORDER BY h.created DESC, COALESCE(i.published, i.discovered) DESC, h.id DESC"""


def _m050_hit_details(db: Schema) -> None:
    # Why a hit matched (configured alias, its kind, the context term that confirmed a weak
    # alias, the snippet with the mention marked) and what `regwatch rematch` learnt later.
    for column in (
        "alias TEXT",
        "kind TEXT NOT NULL DEFAULT 'alias'",
        "confirmed_by TEXT",
        "marked TEXT",
        "retroactive INTEGER NOT NULL DEFAULT 0",
        "unmatched_at TEXT",
    ):
        # One statement each: executescript would commit the migration's transaction early.
        db.execute(f"ALTER TABLE hits ADD COLUMN {column}")


def _m040_outbox(db: Schema) -> None:
    # Messages that are not one hit: digests and source-health alerts, same retry rules.
    # Statements one by one (not executescript, which commits) so the step stays atomic.
    for sql in (
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            channel TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            body_format TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            last_error TEXT,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            sent_at TEXT
        )""",
        "CREATE INDEX messages_status ON messages (status, channel)",
        "ALTER TABLE deliveries ADD COLUMN next_attempt_at TEXT",
        # The digest message that carries this delivery (status 'digested' until it is sent).
        "ALTER TABLE deliveries ADD COLUMN message_id INTEGER REFERENCES messages(id)",
        "CREATE INDEX deliveries_channel ON deliveries (channel, status)",
        "CREATE TABLE digest_state (channel TEXT PRIMARY KEY, last_slot TEXT NOT NULL)",
    ):
        db.execute(sql)


def _m040_stories(db: Schema) -> None:
    for sql in (
        """CREATE TABLE stories (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            created TEXT NOT NULL
        )""",
        # What makes two items one story: "url:...", "ref:IP/24/1234", "title:..." (windowed).
        """CREATE TABLE story_keys (
            key TEXT NOT NULL,
            story_id INTEGER NOT NULL REFERENCES stories(id),
            at TEXT NOT NULL,
            PRIMARY KEY (key, story_id)
        )""",
        "ALTER TABLE hits ADD COLUMN story_id INTEGER REFERENCES stories(id)",
        "CREATE INDEX hits_story ON hits (story_id)",
        # Hits stored before clustering existed: one story per item.
        """INSERT INTO stories (id, title, created)
           SELECT i.id, i.title, i.discovered FROM items i
           WHERE EXISTS (SELECT 1 FROM hits h WHERE h.item_id = i.id)""",
        "UPDATE hits SET story_id = item_id",
    ):
        db.execute(sql)


def _m040_source_health(db: Schema) -> None:
    db.execute("ALTER TABLE sources ADD COLUMN health TEXT NOT NULL DEFAULT 'ok'")
    db.execute("ALTER TABLE sources ADD COLUMN health_since TEXT")


def _m060_story_title_words(db: Schema) -> None:
    # The words of each title key, so a near-identical title is looked up by its words
    # (and its numbers, which must be equal) instead of compared with every title in the window.
    db.execute(
        """CREATE TABLE story_title_words (
            word TEXT NOT NULL,
            numbers TEXT NOT NULL,
            at TEXT NOT NULL,
            key TEXT NOT NULL,
            story_id INTEGER NOT NULL REFERENCES stories(id)
        )"""
    )
    db.execute("CREATE INDEX story_title_words_lookup ON story_title_words (word, numbers, at)")
    from watcher.story import title_words  # story code, loaded only when a migration needs it

    rows = db.execute("SELECT key, story_id, at FROM story_keys WHERE key LIKE 'title:%'")
    for key, story, at in rows.fetchall():
        words, numbers = title_words(key)
        for word in words:
            db.execute(
                "INSERT INTO story_title_words (word, numbers, at, key, story_id) "
                "VALUES (?, ?, ?, ?, ?)",
                [word, numbers, at, key, story],
            )


def _m020_daemon(db: Schema) -> None:
    # One row: the running (or last) daemon, for `regwatch status`; items_discovered
    # serves retention pruning. One statement per execute(): executescript() would commit
    # the migration's transaction.
    db.execute(
        """CREATE TABLE daemon (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            version TEXT NOT NULL,
            config TEXT NOT NULL,
            started_at TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL,
            stopped_at TEXT
        )"""
    )
    db.execute("CREATE INDEX items_discovered ON items (discovered)")


MIGRATIONS: list[tuple[str, Callable[[Schema], None]]] = [
    ("001_initial", _m001_initial),
    ("002_hit_topics", _m002_hit_topics),
    ("010_source_kinds", _m010_source_kinds),
    ("020_daemon", _m020_daemon),
    ("030_search", _m030_search),
    ("040_outbox", _m040_outbox),
    ("040_stories", _m040_stories),
    ("040_source_health", _m040_source_health),
    ("050_hit_details", _m050_hit_details),
    ("060_story_title_words", _m060_story_title_words),
    ("070_evidence", _m070_evidence),
    ("071_review", _m071_review),
    ("072_latest_hits_status", _m072_latest_hits_status),
    ("080_cluster", _m080_cluster),
    ("081_revisions", _m081_revisions),
    # Append new migrations here; never reorder or edit one that has been released.
]
