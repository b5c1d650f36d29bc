"""`regwatch serve`: the hit database in Datasette, read-only, configured by regwatch.

Datasette is an optional extra (`pip install 'regwatch[web]'`); nothing here imports it
until a web view is asked for. Datasette opens the database with `?mode=ro`, so it sees the
daemon's new hits as they are committed and its SQL pages never write. A review by a
signed-in account (site.py, pages.py) is the one write a request can make, through a
Store opened for it alone. Over PostgreSQL, Datasette reads a SQLite copy of the hit tables
that a Refresher (refresh.py) brings up to date every minute, or at /-/refresh; the
reviewer's pages read, and reviews write, PostgreSQL itself.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from watcher.config.model import Web
from watcher.errors import StorageError, WatcherError
from watcher.store.web import QUERIES, has_latest_hits
from watcher.web.refresh import Refresher
from watcher.web.site import Site

TEMPLATES = Path(__file__).with_name("templates")
INSTALL_HINT = "install the web extra: pip install 'regwatch[web]'"


def web_metadata(db_name: str, copy: bool = False) -> dict[str, Any]:
    """Datasette metadata: titles, facets, full-text search and canned queries.

    `copy`: the view reads a copy of a PostgreSQL database (a link refreshes it).
    """
    hidden = {"hidden": True}
    refresh = (
        " This is a copy of the PostgreSQL database, refreshed every minute: "
        f'<a href="/-/refresh?back=/{db_name}/latest_hits">refresh now</a>.'
        if copy
        else ""
    )
    return {
        "title": "regwatch",
        "description_html": (
            '<a href="/-/hits">Hits</a> · <a href="/-/stats">Trends</a> · '
            f'<a href="/{db_name}/latest_hits.atom">Atom feed</a> · '
            f'<a href="/{db_name}">Tables and queries</a>{refresh}'
        ),
        "databases": {
            db_name: {
                "title": "regwatch hits",
                "tables": {
                    "latest_hits": {
                        "title": "Latest hits",
                        "description_html": (
                            "Every hit, newest first. Search the items' full text (all words "
                            "must match; accents and case are ignored), filter with the "
                            "facets, export as CSV or JSON, follow it as an "
                            f'<a href="/{db_name}/latest_hits.atom">Atom feed</a> (filters '
                            f'included) or see the <a href="/-/stats">trends</a>.{refresh}'
                        ),
                        "facets": [
                            "entity",
                            "source",
                            "status",
                            {"array": "topics"},
                            {"date": "published"},
                        ],
                        "fts_table": "items_fts",
                        "fts_pk": "item_id",
                        "size": 50,
                    },
                    "items": {"facets": ["source"], "sort_desc": "id"},
                    "hits": {"facets": ["entity"], "sort_desc": "id"},
                    "_migrations": hidden,
                    "snapshot_state": hidden,
                    "nodes": hidden,
                    **{
                        f"items_fts{suffix}": hidden
                        for suffix in ("", "_config", "_data", "_docsize", "_idx")
                    },
                },
                "queries": QUERIES,
            }
        },
    }


def require_datasette() -> None:
    """Raise a WatcherError naming the extra to install when Datasette is missing."""
    try:
        import datasette  # noqa: F401
    except ImportError:
        raise WatcherError("the web view needs Datasette", hint=INSTALL_HINT) from None


def make_datasette(
    path: str | Path,
    web: Web | None = None,
    refresher: Refresher | None = None,
    database: str | None = None,
) -> Any:
    """A Datasette over the database at `path`, read-only, with regwatch's plugin and pages.

    `web` (the config's [web] table) names who may sign in and review, and whether
    visitors who are not signed in may read. With a `refresher`, `path` is the copy it keeps
    of the PostgreSQL `database`, which the reviewer's pages read and reviews write.
    """
    try:
        from datasette.app import Datasette
        from datasette.plugins import pm
    except ImportError:
        raise WatcherError("the web view needs Datasette", hint=INSTALL_HINT) from None
    from watcher.web import plugin

    path = Path(path)
    if not path.exists():
        raise StorageError(
            f"database {path} does not exist yet",
            hint="run `regwatch poll` or start the daemon first",
        )
    if not has_latest_hits(path):
        raise StorageError(
            f"database {path} was made by an older regwatch",
            hint="run `regwatch reindex` once (or restart the daemon) to bring it up to date",
        )
    if not pm.is_registered(plugin):
        pm.register(plugin, name="regwatch")
    ds = Datasette(
        [str(path)],
        metadata=web_metadata(path.stem, copy=refresher is not None),
        template_dir=str(TEMPLATES),
        # default_cache_ttl 0: a browser never shows a page older than the database (new hits,
        # or the copy just refreshed).
        settings={"sql_time_limit_ms": 3000, "facet_time_limit_ms": 500, "default_cache_ttl": 0},
    )
    ds.regwatch_refresher = refresher  # the plugin's /-/refresh asks it
    ds.regwatch_site = Site(database or str(path), web or Web(), refresher)
    return ds


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: addresses only this machine reaches."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8001,
    web: Web | None = None,
    refresher: Refresher | None = None,
    database: str | None = None,
) -> None:
    """Run the web view until interrupted."""
    ds = make_datasette(path, web, refresher, database)
    import uvicorn

    uvicorn.run(ds.app(), host=host, port=port, log_level="warning")
