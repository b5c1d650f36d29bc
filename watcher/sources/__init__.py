"""Source kinds: each turns a fetched body into Items.

A kind is a module here (feed, html, presscorner) with
``parse(body, headers, url, source=None) -> list[Item]``, and optionally
``listing_url(source, url) -> str`` (what to fetch, when not the source URL itself) and
``async enrich(new_items, fetch_page, source)`` (more fetches for NEW items only, such as
the press corner's documents). `kind_for` maps the ``kind`` key of ``[[sources]]`` to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    from watcher.config import Source
    from watcher.fetch import Response


@dataclass
class Item:
    """One news item as a source published it; `html` is raw, `text` is filled when new."""

    key: str
    title: str
    link: str | None
    published: str | None  # ISO 8601 UTC, or None when the source gave no date
    html: str = ""
    text: str = ""
    # What the kind knows beyond title and link, stored as JSON in items.extra; the press
    # corner sets "reference" (IP/24/1234, used to cluster stories), "type" and "language".
    extra: dict[str, str] = field(default_factory=dict)
    full_text: str = ""  # main text of the linked page, when the source has full_text = true


def item_key(guid: str | None, link: str | None, *parts: str) -> str:
    """Stable identity: the GUID, else the link, else a hash of the content."""
    if guid and guid.strip():
        return "guid:" + guid.strip()
    if link:
        return "link:" + link
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return "sha256:" + digest[:32]


def safe_link(link: str | None, base: str) -> str | None:
    """`link` resolved against `base`, or None unless it is http(s): feed links are untrusted."""
    if not link:
        return None
    try:
        absolute = urljoin(base, link.strip())
        scheme = urlsplit(absolute).scheme.lower()
    except ValueError:
        return None
    return absolute if scheme in ("http", "https") else None


Parser = Callable[..., list[Item]]  # parse(body, headers, url, source=None)
# fetch_page(url) -> Response: a GET with the poll's deadline, size cap and host limit.
PageFetcher = Callable[[str], Awaitable["Response"]]


@dataclass(frozen=True)
class Kind:
    """What a poll needs from a source kind."""

    parse: Parser
    listing_url: Callable[[Source, str], str] | None = None
    enrich: Callable[[list[Item], PageFetcher, Source], Awaitable[Any]] | None = None

    def url_for(self, source: Source, url: str) -> str:
        """The URL a poll fetches for `source`, whose current address is `url`."""
        return self.listing_url(source, url) if self.listing_url else url


def kind_for(name: str) -> Kind:
    """The source kind called `name` ("feed", "html" or "presscorner")."""
    from watcher.sources import feed, html, presscorner

    kinds = {
        "feed": Kind(feed.parse),
        "html": Kind(html.parse),
        "presscorner": Kind(presscorner.parse, presscorner.listing_url, presscorner.enrich),
    }
    return kinds[name]
