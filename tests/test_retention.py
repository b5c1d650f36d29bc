"""The database stays bounded: retention pruning, WAL checkpoints, `regwatch vacuum`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import rss

from watcher.config import load_config
from watcher.store import Store

pytestmark = pytest.mark.usefixtures("backend")

QUIET = {"title": "Agriculture council conclusions", "link": "https://ec.example.eu/agri"}
LOUD = {"title": "Commission fines Microsoft", "link": "https://ec.example.eu/fine"}
LATER = {"title": "OpenAI notifies a merger", "link": "https://ec.example.eu/merger"}


def with_storage(path, line: str):
    """Add a key to the [storage] table make_config wrote."""
    text = path.read_text().replace("[storage]\n", f"[storage]\n{line}\n", 1)
    path.write_text(text)
    return path


def hits(run_cli, config):
    return json.loads(run_cli(config, "hits", "--format", "json", "--limit", "0").output)


def test_retention_prunes_items_without_hits_and_keeps_hits(feed_server, make_config, run_cli):
    feed_server.routes["/eu.xml"] = {"body": rss([QUIET, LOUD])}
    path = with_storage(make_config({"eu": feed_server.url("/eu.xml")}), 'retention = "180d"')
    assert run_cli(path, "poll").exit_code == 0
    cfg = load_config(path)
    assert cfg.retention == 180 * 86400 and cfg.retention_hits is None

    store = Store(cfg.database)
    soon = store.prune(cfg.retention, now=datetime.now(UTC) + timedelta(days=179))
    assert soon.items == 0
    later = store.prune(cfg.retention, now=datetime.now(UTC) + timedelta(days=181))
    assert (later.items, later.hits) == (1, 0)
    titles = [r["title"] for r in store.engine.query("SELECT title FROM items")]
    assert titles == [LOUD["title"]]
    assert [h["link"] for h in hits(run_cli, path)] == [LOUD["link"]]


def test_retention_hits_never_makes_an_old_item_alert_again(
    feed_server, webhook, make_config, run_cli
):
    feed_server.routes["/eu.xml"] = {"body": rss([LOUD])}
    path = make_config({"eu": feed_server.url("/eu.xml")}, {"hook": webhook.url})
    run_cli(path, "poll")  # first poll: stored, not alerted
    store = Store(load_config(path).database)
    pruned = store.prune(86400.0, 86400.0, now=datetime.now(UTC) + timedelta(days=2))
    assert pruned.hits == 1 and hits(run_cli, path) == []

    # The feed still lists the old item next to a new one: only the new one alerts.
    feed_server.routes["/eu.xml"] = {"body": rss([LATER, LOUD])}
    assert run_cli(path, "poll").exit_code == 0
    assert [p["title"] for p in webhook.posts] == [f"[regwatch] OpenAI: {LATER['title']}"]
    assert [h["link"] for h in hits(run_cli, path)] == [LATER["link"]]


def test_vacuum_checkpoints_and_reports_sizes(feed_server, make_config, run_cli):
    feed_server.routes["/eu.xml"] = {"body": rss([QUIET, LOUD, LATER])}
    path = make_config({"eu": feed_server.url("/eu.xml")})
    run_cli(path, "poll")
    result = run_cli(path, "vacuum")
    assert result.exit_code == 0, result.output
    assert "pruned 0 items without hits, 0 hits, 0 deliveries" in result.output
    assert " MB -> " in result.output
    wal = path.parent / "regwatch.db-wal"  # SQLite's log is folded back in
    assert not wal.exists() or wal.stat().st_size == 0
    assert len(hits(run_cli, path)) == 2


@pytest.mark.one_store
def test_bad_retention_names_the_key(make_config, run_cli):
    path = with_storage(make_config(), 'retention = "six months"')
    result = run_cli(path, "check")
    assert result.exit_code == 3
    assert "storage.retention: 'six months' is not a duration" in result.output


def test_reviewed_hits_and_their_evidence_outlive_retention(feed_server, make_config, run_cli):
    feed_server.routes["/eu.xml"] = {"body": rss([LOUD, LATER])}
    path = with_storage(
        make_config({"eu": feed_server.url("/eu.xml")}), 'retention_evidence = "30d"'
    )
    run_cli(path, "poll")
    by_title = {h["title"]: h["id"] for h in hits(run_cli, path)}
    kept, gone = by_title[LOUD["title"]], by_title[LATER["title"]]
    assert run_cli(path, "review", str(kept), "--status", "actioned", "--by", "a").exit_code == 0
    store = Store(load_config(path).database)
    later = datetime.now(UTC) + timedelta(days=400)

    pruned = store.prune(None, 86400.0, later, retention_evidence=30 * 86400.0)
    assert (pruned.hits, pruned.evidence) == (1, 0)  # the new hit went, with its evidence
    assert [h["id"] for h in hits(run_cli, path)] == [kept]
    assert store.evidence_of(kept).captures  # reviewed: its evidence stays

    # Only when asked (vacuum --evidence) does a reviewed hit's evidence go, saying why.
    pruned = store.prune(None, None, later, retention_evidence=30 * 86400.0, all_evidence=True)
    assert pruned.evidence == 1
    held = store.evidence_of(kept)
    assert not held.captures and held.pruned_at and "vacuum --evidence" in held.pruned_why
    assert store.evidence_totals()["bodies"] == 0
    assert store.get_hit(gone) is None and store.get_hit(kept).status == "actioned"


def test_vacuum_evidence_needs_retention_evidence(make_config, run_cli):
    result = run_cli(make_config(), "vacuum", "--evidence")
    assert result.exit_code == 2 and "retention_evidence" in result.output
