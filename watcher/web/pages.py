"""The reviewer's pages: the hit list (`/-/hits`), a hit (`/-/hits/ID`), its review (POST
`/-/hits/ID/review`) and its evidence as a WARC file (`/-/hits/ID.warc.gz`).

Made for people who do not write SQL: titles, entities, sources, dates in the reader's
time zone (the page converts the UTC times it is given), statuses, the snippet with the
match marked; filters and search by form. Feed text is escaped everywhere (Jinja's
autoescape); only http(s) links are made links.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from watcher.errors import WatcherError
from watcher.model import REVIEW_STATUSES, Hit, web_link
from watcher.output import find_mention
from watcher.pipeline.explain import KINDS
from watcher.store import Store
from watcher.text.clean import MARK
from watcher.timeparse import human_duration, parse_since, utcnow
from watcher.web.auth import safe_next
from watcher.web.site import site_of

PAGE = 50


def marked_snippet(hit: Hit) -> Markup:
    """The hit's snippet as HTML, its mention in <mark> (feed text escaped)."""
    m = hit.mention
    text = m.marked if m.marked and m.marked.count(MARK) >= 2 else None
    if text:
        before, rest = text.split(MARK, 1)
        inside, after = rest.split(MARK, 1)
    else:
        span = find_mention(m.snippet, m.matched)
        if not span:
            return Markup(escape(m.snippet))
        a, b = span
        before, inside, after = m.snippet[:a], m.snippet[a:b], m.snippet[b:]
    return Markup(f"{escape(before)}<mark>{escape(inside)}</mark>{escape(after)}")


def hit_view(hit: Hit) -> dict[str, Any]:
    """What the templates show of a hit."""
    return {
        "id": hit.id,
        "title": hit.title or "(untitled)",
        "link": web_link(hit.link),
        "entity": hit.entity,
        "source": hit.source,
        "published": hit.published,
        "created": hit.created,
        "status": hit.status,
        "reviewed_by": hit.reviewed_by,
        "reviewed_at": hit.reviewed_at,
        "note": hit.note,
        "snippet": marked_snippet(hit),
        "story": hit.story,
        "topics": list(hit.mention.topics),
    }


def _filters(args: Any) -> tuple[dict[str, str], dict[str, Any], str]:
    """The list's filters as given (to refill the form), as query arguments, and an error."""
    given = {
        k: (args.get(k) or "").strip() for k in ("status", "entity", "source", "q", "from", "to")
    }
    query: dict[str, Any] = {
        "status": given["status"] if given["status"] in REVIEW_STATUSES else None,
        "entity": given["entity"] or None,
        "source": given["source"] or None,
        "search": given["q"] or None,
    }
    error = ""
    try:
        if given["from"]:
            query["since"] = parse_since(given["from"])
    except ValueError as exc:
        error = f"from: {exc}"
    try:
        if given["to"]:  # the whole day: up to the next midnight
            query["until"] = (date.fromisoformat(given["to"]) + timedelta(days=1)).isoformat()
    except ValueError:
        error = f"to: {given['to']!r} is not a date like 2024-02-01"
    return given, query, error


async def hits_page(datasette: Any, request: Any) -> Response:
    """`/-/hits`: the latest hits, filtered, with review buttons for a signed-in reviewer."""
    site = site_of(datasette)
    given, query, error = _filters(request.args)
    try:
        page = max(int(request.args.get("page") or 1), 1)
    except ValueError:
        page = 1

    def read(store: Store) -> tuple[list[Hit], dict[str, list[str]], dict[str, Any]]:
        hits = store.query_hits(**query, limit=PAGE + 1, offset=(page - 1) * PAGE)
        return hits, store.hit_choices(), store.review_backlog()

    hits: list[Hit] = []
    choices: dict[str, list[str]] = {"entities": [], "sources": []}
    backlog: dict[str, Any] = {"counts": {}, "oldest_new": None}
    try:
        hits, choices, backlog = await site.read(read)
    except WatcherError as exc:  # a search that cannot be read
        error = exc.message
    more = len(hits) > PAGE
    here = {k: v for k, v in given.items() if v}
    context = {
        "hits": [hit_view(h) for h in hits[:PAGE]],
        "given": given,
        "statuses": REVIEW_STATUSES,
        "choices": choices,
        "error": error,
        "page": page,
        "prev_url": "/-/hits?" + urlencode({**here, "page": page - 1}) if page > 1 else None,
        "next_url": "/-/hits?" + urlencode({**here, "page": page + 1}) if more else None,
        "here": request.full_path,
        "backlog": backlog_view(backlog),
        **_common(datasette, request),
    }
    return Response.html(
        await datasette.render_template("regwatch_hits.html", context, request=request)
    )


def backlog_view(backlog: dict[str, Any]) -> dict[str, Any]:
    """Counts by status, and the age of the oldest hit nobody reviewed yet."""
    oldest = backlog.get("oldest_new")
    age = None
    if oldest:
        try:
            age = human_duration((utcnow() - datetime.fromisoformat(oldest)).total_seconds())
        except ValueError:
            age = None
    return {"counts": backlog.get("counts", {}), "oldest_new": oldest, "age": age}


def _common(datasette: Any, request: Any) -> dict[str, Any]:
    site = site_of(datasette)
    name = site.account(datasette, request.cookies)
    return {
        "reviewer": name,
        "can_sign_in": bool(site.web.accounts),
        "database": next(n for n in datasette.databases if not n.startswith("_")),
    }


async def hit_page(datasette: Any, request: Any) -> Response:
    """`/-/hits/ID`: why it matched, the story's other sources, evidence, review history."""
    site = site_of(datasette)
    hit_id = int(request.url_vars["id"])

    def read(store: Store) -> dict[str, Any] | None:
        hit = store.get_hit(hit_id)
        if hit is None:
            return None
        return {
            "hit": hit,
            "copies": [c for c in store.story_copies(hit.story) if c.link != hit.link],
            "evidence": store.evidence_of(hit_id),
            "log": store.review_log(hit_id=hit_id),
        }

    found = await site.read(read)
    if found is None:
        return Response.html(f"no hit with id {hit_id}", status=404)
    hit: Hit = found["hit"]
    m = hit.mention
    context = {
        "hit": hit_view(hit),
        "why": {
            "matched": m.matched,
            "field": m.field,
            "start": m.start,
            "end": m.end,
            "alias": m.alias,
            "kind": KINDS.get(m.kind, m.kind),
            "confirmed_by": m.confirmed_by,
            "retroactive": hit.retroactive,
        },
        "copies": [
            {
                "source": c.source,
                "title": c.title,
                "link": web_link(c.link),
                "published": c.published,
            }
            for c in found["copies"]
        ],
        "evidence": found["evidence"],
        "log": found["log"],
        "statuses": REVIEW_STATUSES,
        "here": request.full_path,
        "message": request.args.get("reviewed") and "Review recorded.",
        **_common(datasette, request),
    }
    return Response.html(
        await datasette.render_template("regwatch_hit.html", context, request=request)
    )


async def review_hit(datasette: Any, request: Any) -> Response:
    """POST `/-/hits/ID/review`: status and note from the form, attributed to the signed-in
    account (never to a name in the form). Datasette has checked the CSRF token."""
    site = site_of(datasette)
    hit_id = int(request.url_vars["id"])
    if request.method != "POST":
        return Response.redirect(f"/-/hits/{hit_id}")
    name = site.account(datasette, request.cookies)
    if name is None:
        return Response.html("Sign in to review hits: /-/login", status=403)
    form = await request.post_vars()
    status = form.get("status", "")
    if status not in REVIEW_STATUSES:
        return Response.html(f"unknown status {status!r}", status=400)
    try:
        await site.review([hit_id], status, name, form.get("note"))
    except WatcherError as exc:  # no such hit, or a database to upgrade first
        return Response.html(
            escape(f"{exc.message} ({exc.hint})" if exc.hint else exc.message), status=409
        )
    back = safe_next(form.get("next"), f"/-/hits/{hit_id}?reviewed=1")
    return Response.redirect(back)


async def hit_warc(datasette: Any, request: Any) -> Response:
    """`/-/hits/ID.warc.gz`: the hit's evidence as a WARC file, to download."""
    from watcher.warc import warc_bytes

    site = site_of(datasette)
    hit_id = int(request.url_vars["id"])
    try:
        body = await site.read(lambda store: warc_bytes(store, [hit_id]))
    except WatcherError as exc:
        return Response.html(escape(exc.message), status=404)
    return Response(
        body,
        content_type="application/warc",
        headers={"Content-Disposition": f'attachment; filename="regwatch-hit-{hit_id}.warc.gz"'},
    )
