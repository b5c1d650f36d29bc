"""Source kinds: each turns a fetched body into Items.

A kind is a module here with ``parse(body, headers, url) -> list[Item]``; KINDS maps the
``kind`` key of ``[[sources]]`` to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit


@dataclass
class Item:
    """One news item as a source published it; `html` is raw, `text` is filled when new."""

    key: str
    title: str
    link: str | None
    published: str | None  # ISO 8601 UTC, or None when the source gave no date
    html: str = ""
    text: str = ""
    extra: dict[str, str] = field(default_factory=dict)


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


Parser = Callable[[bytes, dict[str, str], str], list[Item]]


def parser_for(kind: str) -> Parser:
    """The parse function of a source kind."""
    from watcher.sources import feed

    kinds: dict[str, Parser] = {"feed": feed.parse}
    return kinds[kind]
