"""Full text of the article an item links to, for matching beyond the feed's summary.

Only new items are fetched, with the poll's deadline, size cap and per-host limit; the
response is kept on the item (`captures`) as evidence for its hits. `archive_links` fetches
the linked page of items with a hit only, under the same rules, for the evidence alone. Feed
links are untrusted, so the fetch refuses private addresses on every redirect hop unless
the source allows them; any failure leaves the item with its summary.
"""

from __future__ import annotations

import asyncio
import logging

from bs4 import BeautifulSoup

from watcher.errors import FetchError
from watcher.model import Item
from watcher.pipeline.sources.common import PageFetcher
from watcher.pipeline.sources.html import make_soup
from watcher.text.clean import html_to_text

log = logging.getLogger(__name__)

# Page furniture that is not the article: dropped before taking the text.
FURNITURE = (
    "nav, header, footer, aside, form, script, style, noscript, template, iframe, "
    "[role=navigation], [role=banner], [role=contentinfo], [aria-hidden=true]"
)
MAIN = ("article", "main", "[role=main]", "#content", ".content", "body")


def main_text(body: bytes, headers: dict[str, str]) -> str:
    """The readable main text of an article page, without navigation, header and footer."""
    soup: BeautifulSoup = make_soup(body, headers)
    for node in soup.select(FURNITURE):
        node.decompose()
    for selector in MAIN:
        found = soup.select(selector)
        if found:
            # Several <article>s: a page of teasers more often than one story; take the longest.
            best = max(found, key=lambda n: len(n.get_text()))
            text = html_to_text(str(best))
            if text:
                return text
    return ""


async def _add_one(item: Item, fetch_page: PageFetcher) -> None:
    if not item.link:
        return
    try:
        resp = await fetch_page(item.link)
    except FetchError as exc:
        log.info("full text of %s: %s (keeping the summary)", item.link, exc.message)
        return
    item.captures.append(resp.capture("article"))
    ctype = resp.headers.get("content-type", "text/html").lower()
    if "html" not in ctype and "xml" not in ctype and "text/plain" not in ctype:
        log.info("full text of %s: not a web page (%s)", item.link, ctype.split(";")[0])
        return
    item.full_text = main_text(resp.body, resp.headers)


async def add_full_text(items: list[Item], fetch_page: PageFetcher) -> None:
    """Fetch each item's linked page and keep its main text in `item.full_text`."""
    await asyncio.gather(*(_add_one(item, fetch_page) for item in items))


async def _archive_one(item: Item, fetch_page: PageFetcher) -> None:
    if not item.link or any(c.role == "article" for c in item.captures):
        return  # no link, or fetched already for its full text
    try:
        resp = await fetch_page(item.link)
    except FetchError as exc:
        log.info("archive of %s: %s (no capture of the article)", item.link, exc.message)
        return
    item.captures.append(resp.capture("article"))


async def archive_links(items: list[Item], fetch_page: PageFetcher) -> None:
    """Fetch the page each item links to, as evidence (`archive_links = true`)."""
    await asyncio.gather(*(_archive_one(item, fetch_page) for item in items))
