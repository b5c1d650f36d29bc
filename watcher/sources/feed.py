"""RSS and Atom feeds through feedparser."""

from __future__ import annotations

import calendar
import io
from datetime import UTC, datetime
from typing import Any

import feedparser

from watcher.errors import FetchError
from watcher.sources import Item, item_key, safe_link
from watcher.text import html_to_text


def _iso(struct: Any) -> str | None:
    if not struct:
        return None
    try:
        stamp = calendar.timegm(struct)
        return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
    except (TypeError, ValueError, OverflowError):
        return None


def _entry_html(entry: Any) -> str:
    """The richest body the entry has: full content when given, else the summary."""
    contents = [c.get("value", "") for c in entry.get("content", []) if c.get("value")]
    summary = entry.get("summary", "") or ""
    best = max(contents, key=len) if contents else ""
    return best if len(best) > len(summary) else summary


def parse(body: bytes, headers: dict[str, str], url: str) -> list[Item]:
    """Items of an RSS/Atom document; FetchError when the body is not a feed."""
    # Bytes in a stream, never a string: feedparser would read a string as a path or URL.
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers={k.lower(): v for k, v in headers.items()},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception")
        head = body[:512].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
            raise FetchError(
                "the response is an HTML page, not an RSS or Atom feed",
                hint='check the source URL; for web pages use kind = "html"',
            )
        raise FetchError(f"the response is not an RSS or Atom feed ({reason or 'no feed found'})")
    items = []
    for entry in parsed.entries:
        title_detail = entry.get("title_detail") or {}
        raw_title = entry.get("title", "") or ""
        title = html_to_text(raw_title) if "html" in title_detail.get("type", "") else raw_title
        link = safe_link(entry.get("link"), url)
        html = _entry_html(entry)
        published = _iso(entry.get("published_parsed") or entry.get("updated_parsed"))
        key = item_key(entry.get("id"), link, title, html)
        items.append(
            Item(key=key, title=" ".join(title.split()), link=link, published=published, html=html)
        )
    return items
