"""One poll of a source: fetch -> parse -> keep new items -> clean -> match -> store.

Work is skipped as early as possible: a 304 or a body identical to last time stops
before parsing, and only items never seen before are cleaned and matched.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field

import httpx

from watcher.config import Config, Source
from watcher.errors import FetchError
from watcher.fetch import fetch, make_client
from watcher.match import Matcher, Mention
from watcher.sources import Item, parser_for
from watcher.store import NewHit, Store
from watcher.text import html_to_text

log = logging.getLogger(__name__)


@dataclass
class PollResult:
    """What one source's poll did; `error` is set when it failed."""

    source: str
    status: str  # "ok", "not modified", "unchanged", "error"
    new_items: int = 0
    hits: list[tuple[Item, Mention]] = field(default_factory=list)
    hit_ids: list[int] = field(default_factory=list)
    alerted: bool = True
    error: str | None = None
    http_status: int | None = None
    seconds: float = 0.0
    bytes: int = 0  # body bytes fetched (0 for a 304 or a failure)


class Poller:
    """Polls sources of one config into one store, sharing an HTTP client and a pool."""

    def __init__(
        self,
        config: Config,
        store: Store,
        client: httpx.AsyncClient | None = None,
        matcher: Matcher | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.client = client
        self.matcher = matcher or Matcher(config.entities)
        self._pool: asyncio.Semaphore | None = None

    def use_config(self, config: Config) -> None:
        """Switch to a reloaded config: new sources, entities, channels and concurrency."""
        if config.defaults.concurrency != self.config.defaults.concurrency:
            self._pool = None  # polls in flight keep the old semaphore; new ones get a new one
        self.config = config
        self.matcher = Matcher(config.entities)

    def channels_for(self, entity: str) -> list[str]:
        return [c.name for c in self.config.channels if c.wants(entity)]

    async def poll(self, source: Source) -> PollResult:
        """Poll one source; failures are recorded on the source, never raised."""
        started = time.monotonic()
        result = await self._poll(source)
        result.seconds = time.monotonic() - started
        return result

    async def _poll(self, source: Source) -> PollResult:
        if self.client is None:
            raise RuntimeError("Poller needs an HTTP client; use `async with poller_session(...)`")
        if self._pool is None:
            self._pool = asyncio.Semaphore(self.config.defaults.concurrency)
        state = self.store.source_state(source.name, source.url)
        if state.url != source.url:  # the config now points elsewhere: start afresh
            state.url, state.etag, state.last_modified, state.body_hash = (
                source.url,
                None,
                None,
                None,
            )
        d = self.config.defaults
        try:
            async with self._pool:
                resp = await fetch(
                    self.client,
                    source.url,
                    etag=state.etag,
                    last_modified=state.last_modified,
                    timeout=d.timeout,
                    max_bytes=d.max_bytes,
                )
            if resp.not_modified:
                self.store.record_source(state, status="not modified", http_status=304)
                return PollResult(source.name, "not modified", http_status=304)
            digest = hashlib.sha256(resp.body).hexdigest()
            state.etag, state.last_modified = resp.etag, resp.last_modified
            if digest == state.body_hash:
                self.store.record_source(state, status="unchanged", http_status=resp.status)
                return PollResult(
                    source.name, "unchanged", http_status=resp.status, bytes=len(resp.body)
                )
            items = parser_for("feed")(resp.body, resp.headers, resp.url)
        except FetchError as exc:
            self.store.record_source(
                state, status="error", http_status=exc.status, error=exc.message
            )
            log.warning("source %s: %s", source.name, exc.message)
            return PollResult(source.name, "error", error=exc.message, http_status=exc.status)
        state.body_hash = digest
        result = self._save(source, state, items, resp.status)
        result.bytes = len(resp.body)
        return result

    def _save(self, source: Source, state, items: list[Item], http_status: int) -> PollResult:
        unique: dict[str, Item] = {}
        for item in items:
            unique.setdefault(item.key, item)
        seen = self.store.seen_keys(source.name, unique)
        new = [i for k, i in unique.items() if k not in seen]
        found: list[tuple[Item, Mention]] = []
        for item in new:
            item.text = html_to_text(item.html)
            found += [(item, m) for m in self.matcher.match(item.title, item.text)]
        alert = state.first_poll_at is not None or source.alert_first_poll
        rows = [
            {
                "key": i.key,
                "title": i.title,
                "link": i.link,
                "published": i.published,
                "text": i.text,
            }
            for i in new
        ]
        hits = [
            NewHit(i.key, m.entity, m.matched, m.field, m.start, m.end, m.snippet, m.topics)
            for i, m in found
        ]
        hit_ids = self.store.save_poll(
            state, rows, hits, self.channels_for, alert=alert, http_status=http_status
        )
        return PollResult(
            source.name,
            "ok",
            new_items=len(new),
            hits=found,
            hit_ids=hit_ids,
            alerted=alert,
            http_status=http_status,
        )

    async def poll_all(self, sources: list[Source] | None = None) -> list[PollResult]:
        """Poll sources concurrently (bounded by defaults.concurrency)."""
        chosen = [s for s in (sources or self.config.sources) if s.enabled]
        return list(await asyncio.gather(*(self.poll(s) for s in chosen)))


class poller_session:
    """``async with poller_session(config, store) as poller``: a Poller with its own client."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store

    async def __aenter__(self) -> Poller:
        self.client = make_client(self.config.defaults)
        return Poller(self.config, self.store, self.client)

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
