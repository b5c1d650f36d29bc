"""What travels between the stages: plain dataclasses, importing nothing of regwatch's.

    source --fetch/parse--> Item --match--> Mention --store--> Hit --format--> Message

An `Item` is one news item as a source published it; a `Mention` is where the matcher
found an entity in it; a `Hit` is a mention as stored (with its id, its item's title, link
and source, and its story), and the one type the outbox, digests and the CLI read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)  # slots: a first poll holds thousands of items and mentions
class Item:
    """One news item as a source published it; `html` is raw, `text` is filled when new."""

    key: str
    title: str
    link: str | None
    published: str | None  # ISO 8601 UTC, or None when the source gave no date
    # The bodies stay out of repr(): Python formats the repr of a coroutine's result when
    # asyncio.run() restores its SIGINT handler, and a poll's items made that 230 MB.
    html: str = field(default="", repr=False)
    text: str = field(default="", repr=False)
    # What the kind knows beyond title and link, stored as JSON in items.extra; the press
    # corner sets "reference" (IP/24/1234, used to cluster stories), "type" and "language".
    extra: dict[str, str] = field(default_factory=dict)
    # The linked page as fetched for full_text = true (body, headers lower-cased): its main
    # text joins `text` when the item is cleaned.
    page: tuple[bytes, dict[str, str]] | None = field(default=None, repr=False)
    # The responses fetched for this item (press-corner document, linked article), kept as
    # evidence if the item has a hit.
    captures: list[Capture] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class Capture:
    """One HTTP response kept as evidence: what was asked, and what came back as received.

    `body` is the body after transfer decoding (and content decoding: httpx decodes gzip);
    `headers` are the response's, in order and spelling as the server sent them.
    """

    url: str  # the URL requested
    final_url: str  # where redirects led
    status: int
    reason: str
    http_version: str  # "HTTP/1.1"
    headers: tuple[tuple[str, str], ...]
    body: bytes = field(repr=False)
    fetched_at: str  # ISO 8601 UTC, when the response arrived
    request_headers: tuple[tuple[str, str], ...] = ()
    role: str = "feed"  # "feed", "page", "api" (the source), "document", "article"


@dataclass(frozen=True, slots=True)
class Mention:
    """Where an entity was found: the alias as written in the item, the field and offsets."""

    entity: str
    matched: str
    field: str  # "title" or "text"
    start: int
    end: int
    snippet: str
    topics: tuple[str, ...] = ()  # topic names found in the same item
    alias: str | None = None  # the configured alias that matched
    kind: str = "alias"  # "alias", "exact_alias", "weak_alias" or "exact_weak_alias"
    confirmed_by: str | None = None  # the context term (as found) that confirmed a weak alias
    marked: str | None = None  # the snippet with the mention marked **like this**

    @property
    def weak(self) -> bool:
        return self.kind in ("weak_alias", "exact_weak_alias")


def web_link(link: str | None) -> str | None:
    """A feed's link fit for an href, or None: http(s) only, never javascript: or data:
    (feed links are untrusted)."""
    return link if link and link.lower().startswith(("http://", "https://")) else None


# A hit's review status: `new` until someone looked at it.
REVIEW_STATUSES = ("new", "reviewed", "actioned", "dismissed")


@dataclass(frozen=True)
class Provenance:
    """What a poll records with the evidence of its hits: the source's response, and who matched.

    `source` is the feed, page or API answer the items came from (None: nothing kept);
    `config_sha256` is the SHA-256 of the config file the hits were matched with.
    """

    source: Capture | None
    version: str
    config_sha256: str = ""


@dataclass(frozen=True)
class Hit:
    """A stored mention with its item: what alerts, digests, `hits` and `explain` show."""

    id: int
    item_id: int
    mention: Mention
    source: str
    title: str
    link: str | None
    published: str | None  # the item's date, else when regwatch discovered it
    created: str = ""  # when the hit was stored
    story: int | None = None
    alerted: bool = True  # False for a new source's first poll, and a quiet rematch
    retroactive: bool = False  # found by `regwatch rematch`, not by a poll
    unmatched_at: str | None = None  # when a rematch found the config no longer matches
    status: str = "new"  # review status: new, reviewed, actioned, dismissed
    reviewed_by: str | None = None
    reviewed_at: str | None = None
    note: str | None = None
    item_key: str | None = None  # the item's key in its source (GUID, link or content hash)
    match: str | None = None  # with a full-text search: the item's words that matched
    rank: float | None = None  # ... and its relevance (lower is better)

    @property
    def entity(self) -> str:
        return self.mention.entity

    def row(self) -> dict[str, Any]:
        """The hit as `regwatch hits` prints it (JSON, CSV and table columns)."""
        m = self.mention
        row: dict[str, Any] = {
            "id": self.id,
            "entity": m.entity,
            "title": self.title,
            "link": self.link,
            "source": self.source,
            "published": self.published,
            "matched": m.matched,
            "field": m.field,
            "start": m.start,
            "end": m.end,
            "snippet": m.snippet,
            "created": self.created,
            "alerted": int(self.alerted),
            "topics": list(m.topics),
            "story": self.story,
            "marked": m.marked,
            "alias": m.alias,
            "kind": m.kind,
            "confirmed_by": m.confirmed_by,
            "retroactive": int(self.retroactive),
            "unmatched_at": self.unmatched_at,
            "status": self.status,
            "reviewed_by": self.reviewed_by,
            "reviewed_at": self.reviewed_at,
            "note": self.note,
        }
        if self.match is not None:
            row.update(match=self.match, rank=self.rank)
        return row


@dataclass(frozen=True)
class StoryCopy:
    """One item of a story: the same news as another hit, from this source."""

    source: str
    title: str
    link: str | None
    published: str | None


@dataclass(frozen=True)
class Message:
    """One alert as sent: `body_format` is apprise's "text", "markdown" or "html"."""

    title: str
    body: str
    body_format: str


@dataclass
class SourceState:
    """What the database remembers of a source between polls."""

    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    first_poll_at: str | None = None
    failures: int = 0
    next_poll_at: str | None = None  # no poll before this (backoff, Retry-After)
    moved_to: str | None = None  # where permanent redirects led; polled instead of `url`
    gone_at: str | None = None  # when a 410 disabled the source


@dataclass
class PollResult:
    """What one source's poll did; `error` is set when it failed."""

    source: str
    # "ok", "not modified", "unchanged", "deferred", "gone", "error"; "skipped" when another
    # daemon polled it this interval or is polling it now (see Poller.poll)
    status: str
    new_items: int = 0
    hits: list[tuple[Item, Mention]] = field(default_factory=list, repr=False)
    hit_ids: list[int] = field(default_factory=list, repr=False)
    alerted: bool = True
    error: str | None = None
    http_status: int | None = None
    seconds: float = 0.0
    crashed: bool = False  # an unexpected exception (a bug), not a source's failure
    bytes: int = 0  # body bytes fetched (0 for a 304 or a failure)

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"


@dataclass(frozen=True)
class StoredCapture:
    """A capture as the store holds it: the exchange without its body, and the body's digest."""

    id: int
    role: str
    url: str
    final_url: str
    status: int
    reason: str
    http_version: str
    headers: tuple[tuple[str, str], ...]
    request_headers: tuple[tuple[str, str], ...]
    fetched_at: str
    sha256: str  # of the body as received
    size: int  # bytes of the body
    stored: int  # bytes it takes compressed (shared by every capture of the same body)


@dataclass(frozen=True)
class HitEvidence:
    """What is held for one hit: its captures, who matched it, and whether it was pruned."""

    hit_id: int
    captures: tuple[StoredCapture, ...]
    version: str | None = None  # regwatch's version when the hit was matched
    config_sha256: str | None = None
    recorded_at: str | None = None
    pruned_at: str | None = None
    pruned_why: str | None = None


@dataclass(frozen=True)
class Review:
    """One change of a hit's review status, as the review log keeps it."""

    id: int
    hit_id: int
    at: str
    by: str
    from_status: str
    to_status: str
    note: str | None
