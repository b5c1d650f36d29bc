"""regwatch's Datasette plugin: the reviewer's pages, sign-in, linked titles, marked
mentions, Atom, trends."""

from __future__ import annotations

import asyncio
from typing import Any

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from watcher.model import REVIEW_STATUSES, web_link
from watcher.output import atom_feed, find_mention, parse_topics, pivot
from watcher.store.queries import GROUPS, count_hits
from watcher.timeparse import EVERY, parse_since
from watcher.web.auth import gate, login
from watcher.web.pages import backlog_view, hit_page, hit_warc, hits_page, review_hit
from watcher.web.site import site_of

ATOM_COLUMNS = {"id", "entity", "title", "link"}


def _database(datasette: Any) -> str:
    return next(name for name in datasette.databases if not name.startswith("_"))


async def landing(datasette: Any) -> Response:
    """`/` is the reviewer's hit list."""
    return Response.redirect("/-/hits")


async def trends(datasette: Any, request: Any) -> Response:
    """`/-/stats`: hits over time as one bar chart per entity, source or topic."""
    since = request.args.get("since") or "90d"
    until = request.args.get("until") or ""
    by = request.args.get("by") if request.args.get("by") in GROUPS else "entity"
    every = request.args.get("every") if request.args.get("every") in EVERY else "week"
    error, charts = "", []
    try:
        cutoff, end = parse_since(since), parse_since(until) if until else None
    except ValueError as exc:
        error, cutoff, end = str(exc), parse_since("90d"), None
    db = datasette.get_database(_database(datasette))
    rows = await db.execute_fn(
        lambda conn: count_hits(conn, since=cutoff, by=by, every=every, until=end)
    )
    labels, series = pivot(rows, by)
    top = max((n for counts in series.values() for n in counts), default=0) or 1
    step = max(3, min(14, 900 // max(len(labels), 1)))  # the chart stays about 900px wide
    for name, counts in sorted(series.items(), key=lambda kv: -sum(kv[1])):
        bars = [
            {"x": i * step, "h": round(56 * n / top), "n": n, "period": labels[i]}
            for i, n in enumerate(counts)
        ]
        charts.append({"name": name, "total": sum(counts), "bars": bars})
    context = {
        "since": since,
        "until": until,
        "bar": max(step - 2, 1),
        "by": by,
        "every": every,
        "groups": list(GROUPS),
        "everies": EVERY,
        "charts": charts,
        "labels": labels,
        "width": max(len(labels) * step, step),
        "error": error,
        "rows": rows,
        "database": _database(datasette),
        "backlog": backlog_view(
            await site_of(datasette).read(lambda store: store.review_backlog())
        ),
        "statuses": REVIEW_STATUSES,
    }
    return Response.html(
        await datasette.render_template("regwatch_stats.html", context, request=request)
    )


async def refresh(datasette: Any, request: Any) -> Response:
    """`/-/refresh?back=PATH`: bring the copy of a PostgreSQL database up to date now, then
    go back to PATH."""
    refresher = getattr(datasette, "regwatch_refresher", None)
    if refresher is None:
        return Response.text(
            "nothing to refresh: this web view reads the database itself\n", status=404
        )
    done = await asyncio.to_thread(refresher.request)
    if not done:
        error = refresher.error or "the refresh is taking long; it goes on in the background"
        return Response.text(f"not refreshed: {error}\n", status=503)
    back = request.args.get("back") or "/"
    # Only a path of this site: never a redirect elsewhere ("//host" is another site).
    return Response.redirect(back if back.startswith("/") and not back.startswith("//") else "/")


@hookimpl
def register_routes(datasette: Any) -> list[tuple[str, Any]]:
    return [
        (r"^/$", landing),
        (r"^/-/stats$", trends),
        (r"^/-/refresh$", refresh),
        (r"^/-/hits$", hits_page),
        (r"^/-/hits/(?P<id>\d+)$", hit_page),
        (r"^/-/hits/(?P<id>\d+)/review$", review_hit),
        (r"^/-/hits/(?P<id>\d+)\.warc\.gz$", hit_warc),
        (r"^/-/login$", login),
    ]


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    return lambda app: gate(datasette, app)


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, database: str) -> Any:
    """Titles link to their source; a hit's snippet shows its mention in <mark>."""
    if table not in ("latest_hits", "items") or not isinstance(value, str):
        return None
    keys = row.keys()
    if column == "title" and "link" in keys:
        link = web_link(row["link"])
        if link:
            return Markup(f'<a href="{escape(link)}">{escape(value)}</a>')
    if column == "topics" and value.startswith("["):
        return ", ".join(parse_topics(value))
    if column == "snippet" and "matched" in keys:
        span = find_mention(value, row["matched"] or "")
        if span:
            a, b = span
            return Markup(
                f"{escape(value[:a])}<mark>{escape(value[a:b])}</mark>{escape(value[b:])}"
            )
    return None


def _can_render_atom(columns: list[str]) -> bool:
    return set(columns) >= ATOM_COLUMNS


def _render_atom(columns: list[str], rows: list[Any], table: str | None, request: Any) -> Any:
    filters = "".join(
        f" — {label} {request.args.get(key)}"
        for key, label in (
            ("entity", "entity"),
            ("source", "source"),
            ("topics__arraycontains", "topic"),
            ("_search", "search"),
        )
        if request.args.get(key)
    )
    feed = atom_feed([dict(zip(columns, r, strict=True)) for r in rows], f"regwatch hits{filters}")
    return Response(feed, content_type="application/atom+xml; charset=utf-8")


@hookimpl
def register_output_renderer(datasette: Any) -> dict[str, Any]:
    return {
        "extension": "atom",
        "render": _render_atom,
        "can_render": _can_render_atom,
    }
