"""What every source kind shares: an item's stable key, safe links, the page fetcher type."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:  # parsers run in worker processes, which never fetch (nor import httpx)
    from watcher.pipeline.fetch import Response

# fetch_page(url) -> Response: a GET with the poll's deadline, size cap and host limit.
PageFetcher = Callable[[str], Awaitable["Response"]]


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
