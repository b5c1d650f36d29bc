"""`regwatch serve`'s Datasette view, in process: pages, search, facets, queries, Atom, trends."""

from __future__ import annotations

import asyncio
import hashlib
import io
import sys
from pathlib import Path

import feedparser
import pytest

pytest.importorskip("datasette", reason="the web extra is not installed: pip install '.[web]'")

from watcher.store import Store  # noqa: E402
from watcher.web import is_loopback, make_datasette  # noqa: E402


def fetch_all(db: Path, *paths: str) -> list:
    """GET each path from a fresh web view of `db`; the responses in order."""
    ds = make_datasette(db)

    async def go() -> list:
        return [await ds.client.get(p) for p in paths]

    return asyncio.run(go())


pytestmark = pytest.mark.usefixtures("backend")


def refresh(database: str, view: Path) -> None:
    """Bring the web view's copy of a PostgreSQL store up to date (SQLite: read directly)."""
    if database.startswith("postgresql://"):
        from watcher.store.snapshot import Snapshot

        source, target = Store(database, readonly=True), Store(view)
        Snapshot(source, target).refresh()
        source.close()
        target.close()  # the last connection folds the WAL into the file


@pytest.fixture
def db(hit_config, database, tmp_path) -> Path:
    """The database the web view reads: the store itself, or its copy (PostgreSQL)."""
    if not database.startswith("postgresql://"):
        return Path(database)
    view = tmp_path / "copy" / "regwatch.db"
    refresh(database, view)
    return view


def digest(path: Path) -> str:
    """The database and its WAL's contents (a reader may leave an empty WAL file behind)."""
    wal = path.with_name(path.name + "-wal")
    return hashlib.sha256(
        path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    ).hexdigest()


def test_latest_hits_table_has_links_marks_and_facets(db):
    landing, page = fetch_all(db, "/", "/regwatch/latest_hits")
    assert landing.status_code == 302 and landing.headers["location"] == "/-/hits"
    html = page.text
    assert "Latest hits" in html
    assert (
        '<a href="https://lemonde.example.org/fr1">La Société Générale salue '
        "l&#39;enquête de la Commission européenne sur OpenAI</a>"
    ) in html
    assert "<mark>OpenAI</mark>" in html
    for facet in ("entity", "source", "topics", "published"):
        assert f'data-column="{facet}"' in html, facet
    assert 'name="_search"' in html
    assert "latest_hits.atom" in html and "latest_hits.csv" in html


def test_full_text_search_and_facet_filter_as_json(db):
    (searched, faceted, both) = fetch_all(
        db,
        "/regwatch/latest_hits.json?_search=societe&_shape=array",
        "/regwatch/latest_hits.json?entity=Microsoft&_shape=array",
        "/regwatch/latest_hits.json?_search=commission&entity=Mistral+AI&_shape=array",
    )
    assert [r["entity"] for r in searched.json()] == ["OpenAI"]
    assert sorted(r["title"][:14] for r in faceted.json()) == ["Commission ope", "Die Kommission"]
    assert [r["source"] for r in both.json()] == ["ec"]


def test_topic_and_day_facets_count_hits(db):
    (page,) = fetch_all(db, "/regwatch/latest_hits.json?_facet_array=topics&_facet_date=published")
    facets = page.json()["facet_results"]
    topics = {v["value"]: v["count"] for v in facets["topics"]["results"]}
    assert topics == {"antitrust": 2, "merger": 2}
    days = {v["value"]: v["count"] for v in facets["published"]["results"]}
    assert days["2024-02-27"] == 2


def test_canned_queries(db, database):
    store = Store(database)
    store.engine.execute(
        "INSERT INTO sources (name, url, last_status, last_error, failures) "
        "VALUES ('broken', 'https://b.example/feed', 'error', 'HTTP 503', 3)"
    )
    store.engine.execute("UPDATE deliveries SET status = 'sent' WHERE id > 1")
    refresh(database, db)
    week, failing, undelivered, csv_page = fetch_all(
        db,
        "/regwatch/hits_this_week_by_entity.json?_shape=array",
        "/regwatch/failing_sources.json?_shape=array",
        "/regwatch/undelivered_alerts.json?_shape=array",
        "/regwatch/undelivered_alerts.csv",
    )
    assert week.status_code == 200 and week.json() == []  # the known hits are from 2024
    assert [(r["name"], r["failures"], r["last_error"]) for r in failing.json()] == [
        ("broken", 3, "HTTP 503")
    ]
    rows = undelivered.json()
    assert [(r["channel"], r["status"], r["entity"]) for r in rows] == [
        ("legal-team", "pending", "Microsoft")
    ]
    assert csv_page.text.startswith("id,channel,status,attempts")


def test_atom_page_per_entity_is_valid(db):
    (page,) = fetch_all(db, "/regwatch/latest_hits.atom?entity=OpenAI")
    assert page.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(io.BytesIO(page.content))
    assert feed.bozo is False
    assert feed.feed.title == "regwatch hits — entity OpenAI"
    assert [e.link for e in feed.entries] == ["https://lemonde.example.org/fr1"]


def test_trends_page_draws_one_chart_per_entity(db):
    (page,) = fetch_all(db, "/-/stats?since=2024-01-15&until=2024-03-31&every=month")
    html = page.text
    assert html.count("<svg") == 3 and html.count("<rect") == 3 * 3  # Jan, Feb, Mar
    assert "Microsoft</span> — 2 hits" in html
    assert "<title>2024-02: 2</title>" in html
    (bad,) = fetch_all(db, "/-/stats?since=yesterday-ish")
    assert "give a duration like 7d" in bad.text


def test_view_never_writes_to_the_database(db):
    before = digest(db)
    responses = fetch_all(
        db,
        "/",
        "/-/hits",
        "/-/hits/1",
        "/-/hits?q=microsoft&status=new",
        "/regwatch/latest_hits?_search=microsoft",
        "/regwatch/failing_sources",
        "/-/stats",
        "/regwatch.json?sql=select+count(*)+from+hits",
    )
    assert all(r.status_code in (200, 302) for r in responses)
    (attempt,) = fetch_all(db, "/regwatch.json?sql=delete+from+hits")
    assert attempt.status_code == 400
    assert digest(db) == before
    assert Store(db, readonly=True).query_hits(limit=None)  # still all there


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.10", False),
    ],
)
@pytest.mark.one_store
def test_loopback_detection(host, local):
    assert is_loopback(host) is local


@pytest.mark.one_store
def test_serve_without_the_extra_says_how_to_install(hit_config, run_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasette.app", None)  # as if not installed
    result = run_cli(hit_config, "serve")
    assert result.exit_code == 1
    assert "pip install 'regwatch[web]'" in result.output


@pytest.mark.one_store  # a PostgreSQL database is there before any poll
def test_serve_before_any_poll_says_so(make_config, run_cli):
    result = run_cli(make_config(), "serve")
    assert result.exit_code == 4 and "does not exist yet" in result.output
