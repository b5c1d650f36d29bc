"""Commands that read the hit database: hits, search, stats, sources, the web view."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from watcher.cli.base import (
    cli,
    config_option,
    duration,
    format_option,
    get_config,
    open_readonly,
    reports_errors,
    since,
    stored_database,
)
from watcher.model import REVIEW_STATUSES
from watcher.output import FORMATS, HIT_FORMATS, chart, period_table, render
from watcher.store.queries import GROUPS
from watcher.timeparse import EVERY, human_duration, utcnow


@cli.command()
@config_option
@click.option("--entity", "-e", help="Only hits for this entity.")
@click.option("--source", "-s", help="Only hits from this source.")
@click.option(
    "--since", "since_", help="Only hits published since: 7d, 12h, or a date (2024-02-01)."
)
@click.option(
    "--search",
    metavar="QUERY",
    help='Full-text search of the item: words, "a phrase", OR, NOT, prefix*. '
    "Ranks by relevance, then date.",
)
@click.option("--topic", "-t", help="Only hits whose item has this topic.")
@click.option(
    "--status", type=click.Choice(REVIEW_STATUSES), help="Only hits with this review status."
)
@click.option("--limit", "-n", default=50, show_default=True, help="At most N hits (0: all).")
@format_option(
    HIT_FORMATS, help="ndjson: one JSON object per line; atom: an Atom feed for a feed reader."
)
@click.option("--stories", is_flag=True, help="One row per story (same news from several sources).")
@click.pass_context
@reports_errors
def hits(
    ctx: click.Context,
    entity: str | None,
    source: str | None,
    since_: str | None,
    search: str | None,
    limit: int,
    fmt: str,
    topic: str | None = None,
    stories: bool = False,
    status: str | None = None,
) -> None:
    """List hits, newest first. Works while the daemon runs.

    Each hit has a `story` id: copies of the same news from several sources share it.

    \b
    Examples:
      regwatch hits --entity Microsoft --since 30d --format csv > microsoft.csv
      regwatch hits --search '"merger control" OR enquête*' --since 2024-02-01
      regwatch hits --entity "Mistral AI" --format atom > mistral.atom
      regwatch hits --stories
      regwatch hits --status new --since 7d
    """
    hits = open_readonly(ctx).query_hits(
        entity=entity,
        source=source,
        since=since(since_),
        search=search,
        limit=None if stories else limit or None,
        topic=topic,
        status=status,
    )
    if stories:
        from watcher.story import group_stories

        rows = group_stories(hits, limit or None)
        if fmt != "json":
            rows = [
                {**r, "entities": ", ".join(r["entities"]), "sources": ", ".join(r["sources"])}
                for r in rows
            ]
        cols = ["story", "published", "entities", "items", "sources", "title"]
        click.echo(render(rows, fmt, cols if fmt == "table" else None))
        return
    rows = [hit.row() for hit in hits]
    cols = [
        *("id", "story", "entity", "published", "source", "status", "matched"),
        *("title", "link", "snippet"),
    ]
    if search:  # show where the query matched rather than where the entity did
        cols = ["id", "entity", "published", "source", "status", "title", "match"]
    title = "regwatch hits" + "".join(
        f" — {label} {value}"
        for label, value in (
            ("entity", entity),
            ("topic", topic),
            ("status", status),
            ("search", search),
        )
        if value
    )
    click.echo(render(rows, fmt, cols if fmt == "table" else None, title=title))


@cli.command()
@config_option
@click.argument("query")
@click.option("--source", "-s", help="Only items from this source.")
@click.option(
    "--since", "since_", help="Only items published since: 7d, 12h, or a date (2024-02-01)."
)
@click.option("--limit", "-n", default=20, show_default=True, help="At most N items (0: all).")
@format_option((*FORMATS, "ndjson"))
@click.pass_context
@reports_errors
def search(
    ctx: click.Context, query: str, source: str | None, since_: str | None, limit: int, fmt: str
) -> None:
    """Search every stored item, hit or not: was this story seen at all?

    QUERY: words (all must match), "a phrase", OR, NOT, prefix* and (groups); case and
    accents are ignored ("societe" finds "Société"). Matching words are marked **so**.

    \b
    Examples:
      regwatch search '"merger control" Microsoft'
      regwatch search 'enquête* NOT agriculture' --since 90d
    """
    rows = open_readonly(ctx).search_items(
        query, source=source, since=since(since_), limit=limit or None
    )
    cols = ["published", "source", "entities", "title", "match"]
    click.echo(render(rows, fmt, cols if fmt == "table" else None))


@cli.command()
@config_option
@click.option("--since", "since_", default="90d", show_default=True, help="From: 90d, or a date.")
@click.option("--until", help="Up to this date (2024-03-31); default: today.")
@click.option(
    "--by",
    type=click.Choice(list(GROUPS)),
    default="entity",
    show_default=True,
    help="One series per entity, source or topic.",
)
@click.option(
    "--every",
    type=click.Choice(EVERY),
    default="week",
    show_default=True,
    help="Count per day, per week (labelled by its Monday) or per month.",
)
@format_option(FORMATS)
@click.pass_context
@reports_errors
def stats(
    ctx: click.Context, since_: str, by: str, every: str, fmt: str, until: str | None = None
) -> None:
    """Hit counts over time: a table and one sparkline row per entity (or source, topic,
    review status), then the review backlog: hits still new and the oldest one's age.

    JSON and CSV give the same counts as rows {period, entity, hits}.

    \b
    Examples:
      regwatch stats --since 180d --by source --every month
      regwatch stats --since 2024-01-01 --until 2024-03-31 --every week --format csv
      regwatch stats --by status --every month
    """
    store = open_readonly(ctx)
    rows = store.hit_counts(
        since=since(since_) or "", by=by, every=every, until=since(until, "--until")
    )
    if fmt != "table":
        click.echo(render(rows, fmt))
        return
    if not rows:
        click.echo(f"no hits since {since_}" + (" with topics" if by == "topic" else ""))
        return
    click.echo(render(period_table(rows, by), "table"))
    click.echo("")
    click.echo(chart(rows, by))
    click.echo("")
    click.echo(backlog_line(store.review_backlog()))


def backlog_line(backlog: dict[str, Any]) -> str:
    """ "review backlog: 3 new (oldest found 2d 4h ago), 1 reviewed, ..." for `stats`."""
    counts = backlog["counts"]
    text = f"review backlog: {counts.get('new', 0)} new"
    oldest = backlog.get("oldest_new")
    if oldest:
        age = (utcnow() - datetime.fromisoformat(oldest)).total_seconds()
        text += f" (oldest found {human_duration(age)} ago, {oldest[:16].replace('T', ' ')})"
    others = [f"{counts.get(s, 0)} {s}" for s in REVIEW_STATUSES if s != "new"]
    return text + ", " + ", ".join(others)


@cli.command()
@config_option
@format_option(FORMATS)
@click.pass_context
@reports_errors
def sources(ctx: click.Context, fmt: str) -> None:
    """One row per source: last poll, status, error, health, items and hits.

    Sources in the config that were never polled are listed as "never polled". The url
    column is the URL polled now (after permanent redirects); JSON and CSV add the
    config_url and, for a source backing off, next_poll.

    Example: regwatch sources --format json
    """
    config = get_config(ctx)
    store = stored_database(config)
    stored = {r["name"]: r for r in store.source_report()} if store else {}
    rows = []
    for s in config.sources:
        r = stored.pop(s.name, None) or {"last_status": "never polled", "items": 0, "hits": 0}
        status = r.get("last_status") or "never polled"
        if not s.enabled:
            status = "disabled"
        elif r.get("gone_at"):
            status = "gone (disabled by HTTP 410)"
        moved = r.get("moved_to")
        rows.append(
            {
                "name": s.name,
                "last_poll": r.get("last_poll_at"),
                "status": status,
                "http": r.get("http_status"),
                "error": r.get("last_error"),
                "failures": r.get("failures", 0),
                "health": r.get("health"),
                "items": r["items"],
                "hits": r["hits"],
                # A permanent redirect moved it: that is the URL polled now.
                "url": moved or s.url,
                "config_url": s.url,
                "next_poll": r.get("next_poll_at"),
            }
        )
    for name, r in stored.items():  # removed from the config, still in the database
        rows.append(
            {
                "name": name,
                "last_poll": r["last_poll_at"],
                "status": "not in config",
                "http": r["http_status"],
                "error": r["last_error"],
                "failures": r["failures"],
                "health": r.get("health"),
                "items": r["items"],
                "hits": r["hits"],
                "url": r["url"],
            }
        )
    cols = [
        "name",
        "last_poll",
        "status",
        "http",
        "failures",
        "health",
        "items",
        "hits",
        "url",
        "error",
    ]
    click.echo(render(rows, fmt, cols if fmt == "table" else None))


@cli.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", "-p", default=8001, show_default=True, help="Port to listen on.")
@click.option(
    "--snapshot",
    type=click.Path(dir_okay=False),
    help="PostgreSQL only: the SQLite copy the web view reads (default: in the cache folder).",
)
@click.option(
    "--refresh",
    "refresh_every",
    default="60s",
    show_default=True,
    help="PostgreSQL only: how often the copy is brought up to date.",
)
@click.pass_context
@reports_errors
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    snapshot: str | None = None,
    refresh_every: str = "60s",
) -> None:
    """The web view: hits to read and review, evidence, trends and Datasette's tables.

    Reviewers sign in with the [[web.accounts]] of the config; without accounts it is
    read-only. Listens on this machine only unless --host says otherwise: to share it with
    a team, put it behind a reverse proxy with HTTPS. Needs the web extra:
    pip install 'regwatch[web]'. On PostgreSQL Datasette's pages read a SQLite copy of the
    hit tables, refreshed every minute (or at /-/refresh); reviews go to PostgreSQL.

    Example: regwatch serve --port 8001   (then open http://127.0.0.1:8001/)
    """
    from watcher.web import is_loopback, make_datasette, require_datasette
    from watcher.web import serve as run_server
    from watcher.web.refresh import Refresher, snapshot_path

    config = get_config(ctx)
    every = duration(refresh_every, "--refresh")
    web = config.web
    refresher = None
    if config.storage_url:
        path = Path(snapshot) if snapshot else snapshot_path(config.storage_url)
        click.echo(f"copying the hit tables of {config.database_label} to {path}", err=True)
        require_datasette()
        refresher = Refresher(config.storage_url, path, every)
        refresher.start()
    else:
        assert config.storage_path is not None
        path = config.storage_path
    # Fails early, with a hint, without the extra or the database.
    make_datasette(path, web, refresher, config.database)
    if not is_loopback(host) and web.anonymous == "read":
        click.echo(
            f"warning: listening on {host}: anyone who reaches it can read every hit; "
            'set [web] anonymous = "none", or put it behind a proxy that authenticates',
            err=True,
        )
    mode = f"reviews by {len(web.accounts)} accounts" if web.accounts else "read-only"
    if web.anonymous == "none":
        mode += ", sign-in required"
    click.echo(
        f"regwatch web view of {config.database_label} ({mode}): http://{host}:{port}/",
        err=True,
    )
    run_server(path, host, port, web, refresher, config.database)
