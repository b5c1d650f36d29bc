"""Full text of the article an item links to, for matching beyond the feed's summary.

Only new items are fetched, with the poll's deadline, size cap and per-host limit; the
response is kept on the item (`captures`) as evidence for its hits, and its body
(`item.page`) gives the item's text its main text when the item is cleaned, in a worker
process (`sources.html.main_text`). `archive_links` fetches the linked page of items with a hit only,
under the same rules, for the evidence alone. Feed links are untrusted, so the fetch refuses
private addresses on every redirect hop unless the source allows them; any failure leaves
the item with its summary.
"""

from __future__ import annotations

import asyncio
import logging

from watcher.errors import FetchError
from watcher.model import Item
from watcher.pipeline.sources.common import PageFetcher

log = logging.getLogger(__name__)


async def _add_one(item: Item, fetch_page: PageFetcher) -> None:
    if not item.link:
        return
    try:
        resp = await fetch_page(item.link)
    except FetchError as exc:
        log.info("full text of %s: %s (keeping the summary)", item.link, exc.message)
        return
    except Exception as exc:  # noqa: BLE001 - one item's link must never fail its source
        log.warning(
            "full text of %s: %s: %s (keeping the summary)", item.link, type(exc).__name__, exc
        )
        return
    item.captures.append(resp.capture("article"))
    ctype = resp.headers.get("content-type", "text/html").lower()
    if "html" not in ctype and "xml" not in ctype and "text/plain" not in ctype:
        log.info("full text of %s: not a web page (%s)", item.link, ctype.split(";")[0])
        return
    item.page = (resp.body, resp.headers)


async def add_full_text(items: list[Item], fetch_page: PageFetcher) -> None:
    """Fetch each item's linked page into `item.page` (cleaned with the item, by a worker)."""
    await asyncio.gather(*(_add_one(item, fetch_page) for item in items))


async def _archive_one(item: Item, fetch_page: PageFetcher) -> None:
    if not item.link or any(c.role == "article" for c in item.captures):
        return  # no link, or fetched already for its full text
    try:
        resp = await fetch_page(item.link)
    except FetchError as exc:
        log.info("archive of %s: %s (no capture of the article)", item.link, exc.message)
        return
    except Exception as exc:  # noqa: BLE001 - one item's link must never fail its source
        log.warning("archive of %s: %s: %s (no capture)", item.link, type(exc).__name__, exc)
        return
    item.captures.append(resp.capture("article"))


async def archive_links(items: list[Item], fetch_page: PageFetcher) -> None:
    """Fetch the page each item links to, as evidence (`archive_links = true`)."""
    await asyncio.gather(*(_archive_one(item, fetch_page) for item in items))
