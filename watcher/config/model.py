"""The configuration as frozen dataclasses: what the loader (load.py) builds and code reads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from watcher.config.secrets import mask_dsn, mask_url
from watcher.errors import ConfigError
from watcher.timeparse import Schedule

KINDS = ("feed", "html", "presscorner")
FORMATS = ("text", "markdown", "html")
MIN_INTERVAL = 60.0  # the politeness floor of a source's interval
MAX_INTERVAL = 24 * 3600.0  # and its ceiling
BUSY_TIMEOUT = 30.0  # seconds a SQLite write waits for another process's write lock


@dataclass(frozen=True)
class Defaults:
    interval: float = 15 * 60.0
    timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    concurrency: int = 20
    alert_first_poll: bool = False
    per_host: int = 2
    min_interval: float = MIN_INTERVAL
    allow_private: bool = False
    workers: int | None = None  # processes that parse; None: one per core, 0: in-process


@dataclass(frozen=True)
class Selectors:
    """CSS selectors of an html source; the defaults fit Europa Component Library listings."""

    item: str = "article.ecl-content-item"
    title: str = ".ecl-content-block__title a, .ecl-content-block__title"
    link: str = ".ecl-content-block__title a[href], a[href]"
    date: str = "time[datetime], time, .ecl-content-block__primary-meta-item"
    summary: str = ".ecl-content-block__description"


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    interval: float = 15 * 60.0
    alert_first_poll: bool = False
    enabled: bool = True
    tags: tuple[str, ...] = ()
    kind: str = "feed"
    selectors: Selectors = Selectors()
    language: str = "en"
    document_types: tuple[str, ...] = ()
    full_text: bool = False
    archive_links: bool = False  # fetch the linked page of items with a hit, as evidence
    allow_private: bool = False
    stale_after: float | None = None  # seconds without a new item before a health alert


@dataclass(frozen=True)
class Entity:
    name: str
    aliases: tuple[str, ...]
    exact_aliases: tuple[str, ...] = ()  # matched as written: case and accents count
    weak_aliases: tuple[str, ...] = ()  # count only with a context term in the same item
    exact_weak_aliases: tuple[str, ...] = ()  # weak, and matched as written ("Le Chat")
    context: tuple[str, ...] = ()
    exact_context: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()  # phrases that veto an alias occurrence they overlap
    variants: bool = True  # also match "Chat GPT", "Chat-GPT" for ChatGPT (text/variants.py)


@dataclass(frozen=True)
class Topic:
    name: str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Channel:
    name: str
    url: str = field(repr=False)  # secrets inside: never print it, use masked_url
    entities: tuple[str, ...] | None = None
    format: str = "text"
    topics: tuple[str, ...] | None = None  # only hits whose item has one of these topics
    sources: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    title: str | None = None  # string.Template over watcher.config.template.FIELDS
    body: str | None = None
    schedule: Schedule = Schedule()  # immediate, or a digest: hourly, daily 08:00, weekly ...
    timezone: str | None = None  # IANA zone of digest schedules and alert dates; None: system's
    health: bool = False  # takes source-health alerts
    raw: bool = False  # a json/xml/form webhook gets feed text as is (it escapes itself)

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    def wants(
        self,
        entity: str,
        topics: Iterable[str] = (),
        source: str | None = None,
        tags: Iterable[str] = (),
    ) -> bool:
        """True when this channel takes hits for `entity` from `source` (with its `tags`).

        `topics` (the hit's topics) is passed for a channel filter on topics.
        """
        if self.topics is not None and not set(self.topics).intersection(topics):
            return False
        if self.entities is not None and entity not in self.entities:
            return False
        if self.sources is not None and source not in self.sources:
            return False
        return self.tags is None or bool(set(self.tags).intersection(tags))


@dataclass(frozen=True)
class Delivery:
    """The [delivery] table: retries, send deadline, story window, health threshold."""

    retry_base: float = 60.0
    retry_cap: float = 3600.0
    max_attempts: int = 10
    timeout: float = 30.0
    story_window: float = 48 * 3600.0
    health_failures: int = 3


@dataclass(frozen=True)
class Account:
    """A person who may sign in to the web view and review hits."""

    name: str
    password_hash: str = field(repr=False)  # pbkdf2_sha256$iterations$salt$hash


@dataclass(frozen=True)
class Web:
    """The [web] table: the web view's address, its accounts and what anonymous visitors get."""

    base_url: str | None = None  # e.g. "https://regwatch.example.org": alerts link to hit pages
    anonymous: str = "read"  # "read" (read-only) or "none" (sign-in required)
    accounts: tuple[Account, ...] = ()

    def account(self, name: str) -> Account | None:
        return next((a for a in self.accounts if a.name == name), None)


@dataclass(frozen=True)
class Config:
    path: Path
    storage_path: Path | None  # the SQLite file, or None with [storage] url
    storage_url: str | None = field(default=None, repr=False)  # PostgreSQL; a secret inside
    lease: float = 60.0  # [storage] lease: how long a claim on a source or an alert lasts
    busy_timeout: float = BUSY_TIMEOUT  # [storage] busy_timeout: how long a write waits (SQLite)
    defaults: Defaults = Defaults()
    sources: tuple[Source, ...] = ()
    entities: tuple[Entity, ...] = ()
    channels: tuple[Channel, ...] = ()
    topics: tuple[Topic, ...] = ()
    delivery: Delivery = Delivery()
    notes: tuple[str, ...] = ()  # adjustments worth a word (e.g. a clamped interval)
    # [storage] retention / retention_hits in seconds; None keeps everything.
    retention: float | None = None
    retention_hits: float | None = None
    retention_evidence: float | None = None  # evidence of hits still `new` older than this
    # [http] listen as (host, port); None: no HTTP server.
    http_listen: tuple[str, int] | None = None
    web: Web = Web()
    sha256: str = ""  # of the config file's text: recorded with the evidence of each hit

    @property
    def database(self) -> str:
        """Where the Store is: the PostgreSQL URL or the SQLite path (open with Store(...))."""
        return self.storage_url or str(self.storage_path)

    @property
    def database_label(self) -> str:
        """The database as shown to people: the path, or the URL with its password masked."""
        return mask_dsn(self.storage_url) if self.storage_url else str(self.storage_path)

    def channels_for(
        self, entity: str, topics: Iterable[str] = (), source: str | None = None
    ) -> list[str]:
        """Names of the channels that take a hit for `entity` with `topics` from `source`."""
        tags = next((s.tags for s in self.sources if s.name == source), ())
        return [c.name for c in self.channels if c.wants(entity, topics, source=source, tags=tags)]

    def source(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        raise ConfigError(
            f"no source named {name!r} in {self.path}",
            hint="known sources: " + ", ".join(s.name for s in self.sources),
        )
