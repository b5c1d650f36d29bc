"""Source kinds: each turns a fetched body into Items.

A kind is a module here (feed, html, presscorner) with
``parse(body, headers, url, source=None) -> list[Item]``, and optionally
``listing_url(source, url) -> str`` (what to fetch, when not the source URL itself) and
``async enrich(new_items, fetch_page, source)`` (more fetches for NEW items only, such as
the press corner's documents). `kind_for` gives what the polling process needs of a kind
(its URL and its extra fetches) without importing a parser; `parser_for` gives the parse
function, importing its module (feedparser, BeautifulSoup) on first use: a poll that
fetches nothing new never loads one, and the parsing happens in worker processes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from watcher.config.model import Source
from watcher.model import Item
from watcher.pipeline.sources.common import PageFetcher

Parser = Callable[..., list[Item]]  # parse(body, headers, url, source=None)


@dataclass(frozen=True)
class Kind:
    """What a poll needs from a source kind, besides parsing (see `parser_for`)."""

    name: str
    listing_url: Callable[[Source, str], str] | None = None
    enrich: Callable[[list[Item], PageFetcher, Source], Awaitable[Any]] | None = None

    def url_for(self, source: Source, url: str) -> str:
        """The URL a poll fetches for `source`, whose current address is `url`."""
        return self.listing_url(source, url) if self.listing_url else url


def kind_for(name: str) -> Kind:
    """The source kind called `name` ("feed", "html" or "presscorner")."""
    if name == "presscorner":
        from watcher.pipeline.sources import presscorner  # JSON only: no parser to load

        return Kind(name, presscorner.listing_url, presscorner.enrich)
    return Kind(name)


def parser_for(name: str) -> Parser:
    """The parse function of the source kind called `name`."""
    if name == "feed":
        from watcher.pipeline.sources import feed

        return feed.parse
    if name == "html":
        from watcher.pipeline.sources import html

        return html.parse
    from watcher.pipeline.sources import presscorner

    return presscorner.parse
