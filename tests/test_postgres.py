"""PostgreSQL as the store: [storage] url, clear errors, migrations once, claims between
daemons, the web view's copy, and moving a SQLite database over (`regwatch store copy`).

Store-level behaviour runs on both stores in the other modules (the `backend` fixture);
this one holds what only PostgreSQL has. Several "daemons" here are several Stores, each
with its own connections, as several processes would have.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading

import pytest
from conftest import HIT_ITEMS, fill_hit_db, storage_toml, wait_until
from pgserver import PASSWORD

from watcher.alert.digest import queue_digests
from watcher.alert.outbox import Dispatcher
from watcher.config import load_config, parse_config
from watcher.errors import ConfigError
from watcher.model import Capture, Item, Mention, Message, Provenance
from watcher.store import Store
from watcher.store.snapshot import Snapshot
from watcher.timeparse import utcnow

# -- [storage] url -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ('path = "a.db"\nurl = "postgresql://db/x"', "storage.url: give either path"),
        ('retention = "30d"', "storage.path: missing: [storage] needs path"),
        ('url = "mysql://db/x"', "storage.url: must be a PostgreSQL URL"),
        ('url = "postgresql://db/x"\nlease = "2m"', "storage.lease: must be between"),
    ],
    ids=["both", "neither", "not-postgresql", "lease-too-long"],
)
def test_storage_takes_a_path_or_a_url_and_names_the_key(tmp_path, storage, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(f"[storage]\n{storage}\n", tmp_path / "c.toml")


def test_storage_url_expands_credentials_and_is_shown_masked(tmp_path, run_cli, monkeypatch):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "pg").write_text("hunter2\n")
    env = {"CREDENTIALS_DIRECTORY": str(creds), "PGHOST": "db.example.internal"}
    text = '[storage]\nurl = "postgresql://regwatch:${credential:pg}@${PGHOST}/regwatch"\n'
    config = parse_config(text, tmp_path / "c.toml", env)
    assert config.storage_url == "postgresql://regwatch:hunter2@db.example.internal/regwatch"
    assert config.storage_path is None
    assert config.database_label == "postgresql://regwatch:****@db.example.internal/regwatch"
    assert parse_config("", tmp_path / "c.toml").storage_path == tmp_path / "regwatch.db"

    # `regwatch check` names a credential of the URL that cannot be read, as for channels.
    config = tmp_path / "regwatch.toml"
    config.write_text(text.replace("${credential:pg}", "${credential:nope}"))
    config.chmod(0o600)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    result = run_cli(config, "check")
    assert result.exit_code == 3 and "storage.url: credential 'nope' not found" in result.output


def test_a_missing_driver_names_the_extra(monkeypatch, tmp_path, run_cli):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    config = tmp_path / "regwatch.toml"
    config.write_text('[storage]\nurl = "postgresql://regwatch@127.0.0.1:1/regwatch"\n')
    result = run_cli(config, "hits")
    assert result.exit_code == 4
    assert "pip install 'regwatch[postgres]'" in result.output


# -- a database that cannot be reached -------------------------------------------------------


def test_unreachable_or_wrong_password_is_a_clear_storage_error(
    postgres_server, pg_url, tmp_path, run_cli
):
    config = tmp_path / "regwatch.toml"
    for url, why in [
        (pg_url.replace(PASSWORD, "not-the-password"), "password authentication failed"),
        (pg_url.replace(str(postgres_server.port), "1"), "Connection refused"),
    ]:
        config.write_text(storage_toml(url))
        for command in (["poll"], ["hits"], ["run"]):
            result = run_cli(config, *command)
            assert result.exit_code == 4, result.output  # a storage error, at start
            assert "cannot connect to PostgreSQL at postgresql://postgres:****@" in result.output
            assert why in result.output
            assert "not-the-password" not in result.output and PASSWORD not in result.output


# -- migrations ------------------------------------------------------------------------------


@pytest.mark.empty_database
def test_daemons_starting_together_migrate_once(pg_url):
    applied: list[list[str]] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            store = Store(pg_url)
            applied.append(store.migrations())
            store.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    # Each opens the store, which migrates: one takes the advisory lock and migrates,
    # the others wait for it and find nothing left to do.
    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    store = Store(pg_url)
    names = [n for (n,) in store.engine.execute("SELECT name FROM _migrations").rows]
    assert len(names) == len(set(names)) == len(store.migrations())
    assert all(a == store.migrations() for a in applied)


# -- several daemons, one database ---------------------------------------------------------------


def _mention() -> Mention:
    return Mention("Microsoft", "Microsoft", "title", 0, 9, "Microsoft fined")


def test_a_due_source_is_claimed_by_one_node_and_taken_over_after_the_lease(pg_url):
    a, b = Store(pg_url), Store(pg_url)
    claim = dict(lease=1.0, next_due=0.0, due=True)
    assert a.claim_source("eu", "https://eu.example/feed", node="a", **claim)
    assert not b.claim_source("eu", "https://eu.example/feed", node="b", **claim)  # a polls
    # a dies without recording its poll: its lease ends by itself.
    wait_until(
        lambda: b.claim_source("eu", "https://eu.example/feed", node="b", **claim),
        5,
        "b to take the source over",
    )
    # Polled: not due again for an interval, whoever asks.
    a.record_source(a.source_state("eu", "https://eu.example/feed"), status="ok", http_status=200)
    due_later = dict(lease=1.0, next_due=600.0, due=True)
    assert b.claim_source("eu", "https://eu.example/feed", node="b", **due_later)
    b.record_source(b.source_state("eu", "https://eu.example/feed"), status="ok", http_status=200)
    assert not a.claim_source("eu", "https://eu.example/feed", node="a", **claim)
    # `regwatch poll` (not scheduled) polls it anyway: only a running poll stops it.
    assert a.claim_source("eu", "https://eu.example/feed", node="a", **{**claim, "due": False})


def test_two_dispatchers_send_each_delivery_once(pg_url, make_config, receiver):
    config = load_config(make_config(channels={"hook": receiver.json_url}))
    first = Store(pg_url)
    state = first.source_state("eu", "https://eu.example/feed")
    state.first_poll_at = "2024-01-01T00:00:00+00:00"
    items = [Item(f"k{i}", f"Microsoft fined {i}", None, None) for i in range(30)]
    first.save_poll(
        state,
        items,
        [(i, _mention()) for i in items],
        lambda m: ["hook"],
        alert=True,
        http_status=200,
    )

    async def both() -> list[tuple[int, int]]:
        dispatchers = [
            Dispatcher(Store(pg_url), config.channels, config.delivery, node=f"n{i}")
            for i in range(2)
        ]
        return list(await asyncio.gather(*(d.drain() for d in dispatchers)))

    results = asyncio.run(both())
    assert sum(sent for sent, _ in results) == 30
    assert len(receiver.posts) == 30  # none twice
    assert {r["status"] for r in first.list_deliveries(limit=None)} == {"sent"}


def test_a_digest_and_a_health_alert_are_queued_once_by_the_cluster(pg_url, make_config, receiver):
    from datetime import timedelta

    config = load_config(
        make_config(
            channels={},
            extra=f'[[channels]]\nname = "daily"\nurl = "{receiver.json_url}"\n'
            'digest = "hourly"\nhealth = true\n',
        )
    )
    nodes = [Store(pg_url) for _ in range(3)]
    now = utcnow()
    for store in nodes:
        assert queue_digests(store, config.channels, now) == []  # the first slot: a start
    state = nodes[0].source_state("eu", "https://eu.example/feed")
    state.first_poll_at = "2024-01-01T00:00:00+00:00"
    item = Item("k", "Microsoft fined", None, None)
    nodes[0].save_poll(
        state, [item], [(item, _mention())], lambda m: ["daily"], alert=True, http_status=200
    )
    later = now + timedelta(hours=1)
    queued = [queue_digests(store, config.channels, later) for store in nodes]
    assert sorted(len(q) for q in queued) == [0, 0, 1]  # one node queued the digest

    message = Message("source down", "body", "text")
    changed = [
        store.change_health(
            "eu",
            ("ok", "failing"),
            "2024-03-01T00:00:00+00:00",
            [("daily", "health", "eu: failing", message)],
        )
        for store in nodes
    ]
    assert changed == [True, False, False]  # one change of state, one alert
    kinds = [r["kind"] for r in nodes[0].list_deliveries(limit=None) if r["kind"] != "hit"]
    assert sorted(kinds) == ["digest", "health"]


# -- the web view's copy ---------------------------------------------------------------------------


def test_the_web_views_copy_follows_inserts_updates_and_deletes(pg_url, tmp_path):
    fill_hit_db(pg_url)
    store = Store(pg_url)
    copy_path = tmp_path / "copy" / "regwatch.db"
    snapshot = Snapshot(Store(pg_url, readonly=True), Store(copy_path))
    first = snapshot.refresh()
    assert first["hits"] == 5 and first["items"] == 4  # the items with hits only
    copy = Store(copy_path, readonly=True)
    assert len(copy.query_hits(limit=None)) == 5
    assert [r["title"][:14] for r in copy.search_items("societe")] == ["La Société Gén"]

    assert snapshot.refresh() == {"deleted": 0}  # nothing changed: nothing copied
    state = store.source_state("ec", "https://ec.example.org/feed")
    state.first_poll_at = "2024-01-01T00:00:00+00:00"
    item = Item("ec9", "Microsoft appeals the fine", "https://ec.example.org/ec9", None)
    store.save_poll(
        state, [item], [(item, _mention())], lambda m: ["legal-team"], alert=True, http_status=200
    )
    store.engine.execute("UPDATE deliveries SET status = 'sent'")
    gone = store.query_hits(entity="OpenAI")[0]
    with store.writing("a pruned hit"):
        store.engine.execute("DELETE FROM deliveries WHERE hit_id = ?", [gone.id])
        store.engine.execute("DELETE FROM hits WHERE id = ?", [gone.id])
        store.engine.execute("UPDATE items SET title = '', text = '' WHERE id = ?", [gone.item_id])
    counts = snapshot.refresh()
    assert counts["hits"] == 1 and counts["deleted"] == 3  # its hit, delivery, emptied item
    assert {h.entity for h in copy.query_hits(limit=None)} == {"Microsoft", "Mistral AI"}
    assert len(copy.query_hits(limit=None)) == 5
    assert {r["status"] for r in copy.list_deliveries(limit=None)} == {"sent"}
    assert copy.search_items("societe") == []


# -- regwatch store copy -------------------------------------------------------------------------


def test_store_copy_moves_a_sqlite_database_into_postgresql(tmp_path, pg_url, run_cli):
    sqlite_db = tmp_path / "regwatch.db"
    fill_hit_db(sqlite_db)
    old = Store(sqlite_db)
    old.engine.execute("UPDATE deliveries SET status = 'sent', attempts = 1 WHERE id <= 2")
    old.enqueue_message("legal-team", "health", "ec: failing", Message("t", "b", "text"), "x")
    old.review_hits([1, 2], "actioned", "alice", "forwarded")
    capture = Capture(
        url="https://ec.example.org/feed",
        final_url="https://ec.example.org/feed",
        status=200,
        reason="OK",
        http_version="HTTP/1.1",
        headers=(("Content-Type", "application/rss+xml"),),
        body=b"\x00\xff the feed's bytes",
        fetched_at="2024-02-27T12:00:00+00:00",
    )
    state = old.source_state("ec", "https://ec.example.org/feed")
    state.first_poll_at = "2024-01-01T00:00:00+00:00"
    item = Item("ec7", "Microsoft kept as evidence", "https://ec.example.org/ec7", None)
    old.save_poll(
        state,
        [item],
        [(item, _mention())],
        lambda m: [],
        alert=True,
        http_status=200,
        provenance=Provenance(capture, "1.0", "abc"),
    )
    result = run_cli(
        tmp_path / "none.toml", "store", "copy", "--from", str(sqlite_db), "--to", pg_url
    )
    assert result.exit_code == 0, result.output
    assert "every count matches" in result.output and PASSWORD not in result.output
    for table, rows in [
        ("items", 7),
        ("hits", 6),
        ("deliveries", 5),
        ("messages", 1),
        ("sources", 5),
        ("review_log", 2),
        ("evidence_bodies", 1),
        ("hit_captures", 1),
    ]:
        assert f"{table}" in result.output and str(rows) in result.output

    config = tmp_path / "pg.toml"
    config.write_text(storage_toml(pg_url))
    sqlite_config = tmp_path / "sqlite.toml"
    sqlite_config.write_text(storage_toml(str(sqlite_db)))
    for command in (
        ["hits", "--format", "json", "--limit", "0"],
        ["search", "commission*", "--format", "json"],
        ["deliveries", "--format", "json"],
        ["sources", "--format", "json"],
        ["stats", "--since", "2024-01-01", "--until", "2024-03-31", "--format", "json"],
    ):
        on_sqlite = run_cli(sqlite_config, *command).output
        on_postgres = run_cli(config, *command).output
        if command[0] == "search":  # the engines score differently; the same items match
            on_sqlite = sorted(r["title"] for r in json.loads(on_sqlite))
            on_postgres = sorted(r["title"] for r in json.loads(on_postgres))
        assert on_postgres == on_sqlite, command
    # New rows continue after the copied ids.
    moved = Store(pg_url)
    state = moved.source_state("ec", "https://ec.example.org/feed")
    item = Item("new", "Microsoft again", None, None)
    (hit_id,) = moved.save_poll(
        state, [item], [(item, _mention())], lambda m: [], alert=True, http_status=200
    )
    assert hit_id == 7
    assert [r.by for r in moved.review_log()] == ["alice", "alice"]
    (held,) = moved.evidence_of(6).captures
    assert moved.evidence_body(held.sha256) == b"\x00\xff the feed's bytes"

    again = run_cli(config, "store", "copy", "--from", str(sqlite_db), "--to", pg_url)
    assert again.exit_code == 4 and "is not empty" in again.output


def test_store_copy_brings_a_postgresql_database_back_to_sqlite(tmp_path, pg_url, run_cli):
    fill_hit_db(pg_url)
    back = tmp_path / "back.db"
    result = run_cli(tmp_path / "none.toml", "store", "copy", "--from", pg_url, "--to", str(back))
    assert result.exit_code == 0, result.output
    assert len(Store(back).query_hits(limit=None)) == len([m for *_, m in HIT_ITEMS for _ in m])
    assert Store(back).search_items("enquete")  # SQLite's index was filled by its triggers
