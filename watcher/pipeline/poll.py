"""One poll of a source: fetch -> parse -> keep new items -> enrich -> clean -> match -> store.

Work is skipped as early as possible: a 304 or a body identical to last time stops
before parsing, and only items never seen before are enriched (press corner documents,
full text), cleaned and matched. A failing source backs off exponentially, a 429/503
defers it as long as Retry-After asks, a 410 disables it, and a permanent redirect
moves it: that state lives in the sources table.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from watcher import __version__
from watcher.config.model import MAX_INTERVAL, Config, Source
from watcher.errors import FetchError, StorageError
from watcher.model import Item, Mention, PollResult, Provenance, SourceState
from watcher.pipeline.fetch import Guard, HostLimiter, Response, fetch, make_client, refuse_private
from watcher.pipeline.fulltext import add_full_text, archive_links
from watcher.pipeline.match import Matcher
from watcher.pipeline.sources import kind_for
from watcher.pipeline.sources.common import PageFetcher
from watcher.store import Store, node_name
from watcher.text.clean import html_to_text

log = logging.getLogger(__name__)

# What a source's own response is, as evidence, by the source's kind.
ROLES = {"feed": "feed", "html": "page", "presscorner": "api"}


def backoff_delay(interval: float, failures: int) -> float:
    """Seconds to wait after `failures` consecutive failures: doubling, at most 24 h."""
    return min(interval * 2.0 ** max(failures - 1, 0), MAX_INTERVAL)


def jitter(interval: float) -> float:
    """The most a scheduled poll may come late: 10% of its interval, at most a minute."""
    return min(interval * 0.1, 60.0)


def due_after(interval: float) -> float:
    """Seconds after a claim before a source is due again: a little less than its interval,
    so that the next scheduled poll, jittered, finds it due (and another daemon's poll
    later in the interval does not)."""
    return interval - jitter(interval) - min(interval * 0.25, 1.0)


class Poller:
    """Polls sources of one config into one store, sharing an HTTP client and a pool."""

    def __init__(
        self,
        config: Config,
        store: Store,
        client: httpx.AsyncClient | None = None,
        matcher: Matcher | None = None,
        node: str | None = None,
    ) -> None:
        self.config = config
        self.node = node or node_name()  # who claims the sources it polls
        # True for the daemon's scheduled polls: a source is polled only once it is due, so
        # several daemons poll it once per interval between them (`regwatch poll`: False).
        self.scheduled = False
        self.store = store
        self.client = client
        self.matcher = matcher or Matcher(config.entities, config.topics)
        self._pool: asyncio.Semaphore | None = None
        self.limiter = HostLimiter(config.defaults.per_host)
        self.guard: Guard = refuse_private  # for full-text fetches of untrusted links

    def use_config(self, config: Config) -> None:
        """Switch to a reloaded config: new sources, entities, topics, channels and limits."""
        if config.defaults.concurrency != self.config.defaults.concurrency:
            self._pool = None  # polls in flight keep the old semaphore; new ones get a new one
        if config.defaults.per_host != self.config.defaults.per_host:
            self.limiter = HostLimiter(config.defaults.per_host)
        self.config = config
        self.matcher = Matcher(config.entities, config.topics)

    async def poll(self, source: Source, *, force: bool = False) -> PollResult:
        """Poll one source; failures are recorded on the source, never raised.

        A source backing off (or deferred by Retry-After) is skipped unless `force`.
        """
        started = time.monotonic()
        try:
            if not self._claim(source):
                return PollResult(source.name, "skipped")
            result = await self._poll(source, force)
        except StorageError:
            raise  # the database is broken (full disk...): that stops the poll, not one source
        except Exception as exc:  # noqa: BLE001 - one source's bug must not stop the others
            log.exception("source %s: unexpected error", source.name)
            message = f"internal error: {type(exc).__name__}: {exc}"[:500]
            try:
                state = self.store.source_state(source.name, source.url)
                self.store.record_source(state, status="error", http_status=None, error=message)
            except Exception:  # noqa: BLE001 - already reporting a failure
                log.exception("source %s: cannot record the error", source.name)
            result = PollResult(source.name, "error", error=message, crashed=True)
        result.seconds = time.monotonic() - started
        return result

    def _claim(self, source: Source) -> bool:
        """Claim the source in the database before fetching it (see store/cluster.py)."""
        return self.store.claim_source(
            source.name,
            source.url,
            node=self.node,
            lease=self.config.lease,
            next_due=due_after(source.interval),
            due=self.scheduled,
        )

    def fetch_page(self, guard: Guard | None = None) -> PageFetcher:
        """A GET with this poll's deadline, size cap, redirect limit and per-host limit."""
        d = self.config.defaults
        client = self.client
        assert client is not None

        async def fetch_page(url: str) -> Response:
            return await fetch(
                client,
                url,
                timeout=d.timeout,
                max_bytes=d.max_bytes,
                max_redirects=d.max_redirects,
                limiter=self.limiter,
                guard=guard,
            )

        return fetch_page

    async def _poll(self, source: Source, force: bool = False) -> PollResult:
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
            state.moved_to = state.gone_at = state.next_poll_at = None
        if state.gone_at:
            self.store.release_source(source.name, self.node)
            return PollResult(
                source.name,
                "gone",
                error=f"disabled since {state.gone_at}: HTTP 410 Gone; "
                "change its url in the config to enable it again",
                http_status=410,
            )
        if not force and state.next_poll_at and state.next_poll_at > _now().isoformat():
            self.store.release_source(source.name, self.node)
            return PollResult(source.name, "deferred", error=None)
        state.next_poll_at = None
        d = self.config.defaults
        kind = kind_for(source.kind)
        try:
            async with self._pool:
                resp = await fetch(
                    self.client,
                    kind.url_for(source, state.moved_to or source.url),
                    etag=state.etag,
                    last_modified=state.last_modified,
                    timeout=d.timeout,
                    max_bytes=d.max_bytes,
                    max_redirects=d.max_redirects,
                    limiter=self.limiter,
                )
            if resp.moved_to:
                state.moved_to = resp.moved_to
                log.info("source %s: moved permanently to %s", source.name, resp.moved_to)
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
            items = kind.parse(resp.body, resp.headers, resp.url, source)
        except FetchError as exc:
            return self._fail(source, state, exc)
        state.body_hash = digest
        new = self._new_items(source, items)
        guard = None if source.allow_private else self.guard
        if new and kind.enrich:
            await kind.enrich(new, self.fetch_page(), source)
        if new and source.full_text:
            await add_full_text(new, self.fetch_page(guard))
        found = clean_and_match(new, self.matcher)
        if found and source.archive_links:
            with_hits = list({id(item): item for item, _ in found}.values())
            await archive_links(with_hits, self.fetch_page(guard))
        provenance = Provenance(resp.capture(ROLES[source.kind]), __version__, self.config.sha256)
        result = self._save(source, state, new, found, resp.status, provenance)
        result.bytes = len(resp.body)
        return result

    def _fail(self, source: Source, state: SourceState, exc: FetchError) -> PollResult:
        """Record a failed poll: back off, honour Retry-After, disable on 410."""
        now = _now()
        message = exc.message
        status = "error"
        if exc.status == 410:
            state.gone_at = now.isoformat(timespec="seconds")
            status, message = "gone", f"{exc.message}: source disabled"
        else:
            delay = backoff_delay(source.interval, state.failures + 1)
            # Slack so the scheduler's next run, due about one interval later, is not skipped.
            delay -= jitter(source.interval) + 1.0
            if exc.retry_after is not None:
                delay = max(delay, exc.retry_after)
                message += f" (Retry-After: next poll in {exc.retry_after:.0f}s or later)"
            state.next_poll_at = (now + timedelta(seconds=delay)).isoformat(timespec="seconds")
        self.store.record_source(state, status=status, http_status=exc.status, error=message)
        return PollResult(source.name, status, error=message, http_status=exc.status)

    def _new_items(self, source: Source, items: list[Item]) -> list[Item]:
        """The items not stored yet for `source`, once each."""
        by_key: dict[str, Item] = {}
        for item in items:
            by_key.setdefault(item.key, item)
        return [by_key[k] for k in self.store.new_keys(source.name, by_key)]

    def _save(
        self,
        source: Source,
        state: SourceState,
        new: list[Item],
        found: list[tuple[Item, Mention]],
        http_status: int,
        provenance: Provenance | None = None,
    ) -> PollResult:
        """Store the new items with their hits, deliveries and the hits' evidence."""
        alert = state.first_poll_at is not None or source.alert_first_poll
        hit_ids = self.store.save_poll(
            state,
            new,
            found,
            lambda m: self.config.channels_for(m.entity, m.topics, source.name),
            alert=alert,
            http_status=http_status,
            story_window=self.config.delivery.story_window,
            provenance=provenance,
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

    async def poll_all(
        self,
        sources: list[Source] | None = None,
        on_done: Callable[[PollResult], None] | None = None,
        *,
        force: bool = False,
    ) -> list[PollResult]:
        """Poll sources concurrently (bounded by defaults.concurrency and per host).

        `on_done(result)` is called as each source finishes (a progress bar's tick).
        """
        chosen = [s for s in (self.config.sources if sources is None else sources) if s.enabled]

        async def one(source: Source) -> PollResult:
            result = await self.poll(source, force=force)
            if on_done:
                on_done(result)
            return result

        return list(await asyncio.gather(*(one(s) for s in chosen)))


def clean_and_match(items: list[Item], matcher: Matcher) -> list[tuple[Item, Mention]]:
    """Fill each item's text (its HTML cleaned, plus any full text) and match it."""
    found: list[tuple[Item, Mention]] = []
    for item in items:
        item.text = html_to_text(item.html)
        if item.full_text and item.full_text not in item.text:
            item.text = f"{item.text}\n{item.full_text}" if item.text else item.full_text
        found += [(item, m) for m in matcher.match(item.title, item.text)]
    return found


def _now() -> datetime:
    return datetime.now(UTC)


class poller_session:
    """``async with poller_session(config, store) as poller``: a Poller with its own client."""

    def __init__(self, config: Config, store: Store, node: str | None = None) -> None:
        self.config = config
        self.store = store
        self.node = node

    async def __aenter__(self) -> Poller:
        self.client = make_client(self.config.defaults)
        return Poller(self.config, self.store, self.client, node=self.node)

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
