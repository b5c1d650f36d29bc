"""RSS and Atom feeds through feedparser."""

from __future__ import annotations

import calendar
import io
import re
from datetime import UTC, datetime
from typing import Any

import feedparser
import feedparser.api

from watcher.config.model import Source
from watcher.errors import FetchError
from watcher.model import Item
from watcher.pipeline.sources import saxdriver
from watcher.pipeline.sources.common import item_key, safe_link
from watcher.text.clean import html_to_text

# feedparser's hook for its XML reader (a list of SAX driver modules, tried first): expat
# with text buffering, a quarter of feedparser's time on escaped HTML, the same results.
feedparser.api.PREFERRED_XML_PARSERS = [saxdriver.__name__]

# An internal DTD subset declaring entities: how billion-laughs and XXE documents start.
_ENTITY_DECL = re.compile(rb"<!DOCTYPE[^>\[]*\[[^\]]*<!ENTITY", re.IGNORECASE | re.DOTALL)


def refuse_entities(body: bytes) -> None:
    """FetchError when the document declares XML entities; real feeds do not need them."""
    head = body[:65536]
    if b"\x00" in head[:4]:  # UTF-16/32: look at the text, not the bytes
        head = head.replace(b"\x00", b"")
    if _ENTITY_DECL.search(head):
        raise FetchError(
            "the document declares XML entities (refused: the shape of a billion-laughs or "
            "XXE attack)",
            hint="if this feed is legitimate, ask its publisher to drop the DOCTYPE declarations",
        )


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


def _feedparse(body: bytes, headers: dict[str, str]) -> Any:
    # Bytes in a stream, never a string: feedparser would read a string as a path or URL.
    return feedparser.parse(
        io.BytesIO(body),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )


def parse(
    body: bytes, headers: dict[str, str], url: str, source: Source | None = None
) -> list[Item]:
    """Items of an RSS/Atom document; FetchError when the body is not a feed."""
    refuse_entities(body)
    lowered = {k.lower(): v for k, v in headers.items()}
    parsed = _feedparse(body, lowered)
    if not parsed.get("version") and not parsed.entries and "content-type" in lowered:
        # A wrong HTTP charset, or text/xml read as us-ascii (RFC 3023) when the document is
        # UTF-16: let the document's own BOM and declaration decide.
        retry = _feedparse(body, {**lowered, "content-type": "application/xml"})
        if retry.get("version") or retry.entries:
            parsed = retry
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception")
        head = body[:512].lstrip().lower()
        if head.startswith((b"{", b"[")):
            raise FetchError(
                "the response is JSON, not an RSS or Atom feed (JSON Feed is not supported)",
                hint="look for an RSS or Atom address on the site",
            )
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
