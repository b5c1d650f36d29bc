"""One poll of a source: fetch -> parse -> keep new items -> enrich -> clean -> match -> store.

Work is skipped as early as possible: a 304 or a body identical to last time stops
before parsing, and only items never seen before are enriched (press corner documents,
full text), cleaned and matched. A failing source backs off exponentially, a 429/503
defers it as long as Retry-After asks, a 410 disables it, and a permanent redirect
moves it: that state lives in the sources table.

This process fetches (the event loop) and writes (in batches, writer.py); parsing,
cleaning and matching run in worker processes (workers.py, work.py). A source whose job
was lost with a worker that died is polled again: nothing of that poll was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from watcher import __version__
from watcher.config.model import Config, Source
from watcher.errors import FetchError, StorageError
from watcher.model import Item, Mention, PollResult, Provenance, SourceState
from watcher.pipeline.addresses import refuse_private
from watcher.pipeline.failing import FailureLog
from watcher.pipeline.fetch import Guard, HostLimiter, Response, fetch, make_client
from watcher.pipeline.fulltext import add_full_text, archive_links
from watcher.pipeline.sources import kind_for
from watcher.pipeline.sources.common import PageFetcher
from watcher.pipeline.timing import backoff_delay, due_after, jitter
from watcher.pipeline.workers import WorkerLost, Workers, worker_count
from watcher.pipeline.writer import Writer
from watcher.store import Store, node_name

log = logging.getLogger(__name__)

# What a source's own response is, as evidence, by the source's kind.
ROLES = {"feed": "feed", "html": "page", "presscorner": "api"}
LOST_RETRIES = 2  # polls again of a source whose job a dying worker took with it
FIRST_POLLS_PER_WORKER = 8  # sources in their first poll at once, per worker (at least 8)


class Poller:
    """Polls sources of one config into one store, sharing an HTTP client and a pool."""

    def __init__(
        self,
        config: Config,
        store: Store,
        client: httpx.AsyncClient | None = None,
        workers: Workers | None = None,
        node: str | None = None,
    ) -> None:
        self.config = config
        self.node = node or node_name()  # who claims the sources it polls
        # True for the daemon's scheduled polls: a source is polled only once it is due, so
        # several daemons poll it once per interval between them (`regwatch poll`: False).
        self.scheduled = False
        self.store = store
        self.client = client
        self.workers = workers or Workers(0, config.entities, config.topics)
        self.writer = Writer(store)
        self._pool: asyncio.Semaphore | None = None
        self._first: asyncio.Semaphore | None = None  # first polls in flight (see _poll)
        self.limiter = HostLimiter(config.defaults.per_host)
        self.guard: Guard = refuse_private  # for full-text fetches of untrusted links
        # Warns when a source starts failing; the daemon gives it hourly reminders.
        self.failure_log = FailureLog()

    def use_config(self, config: Config) -> None:
        """Switch to a reloaded config: new sources, entities, topics, channels and limits."""
        if config.defaults.concurrency != self.config.defaults.concurrency:
            self._pool = None  # polls in flight keep the old semaphore; new ones get a new one
        self._first = None
        if config.defaults.per_host != self.config.defaults.per_host:
            self.limiter = HostLimiter(config.defaults.per_host)
        self.config = config
        self.workers.use(worker_count(config), config.entities, config.topics)

    async def poll(self, source: Source, *, force: bool = False) -> PollResult:
        """Poll one source; failures are recorded on the source, never raised.

        A source backing off (or deferred by Retry-After) is skipped unless `force`.
        """
        started = time.monotonic()
        try:
            if not await self._claim(source):
                return PollResult(source.name, "skipped")
            result = await self._poll_until_done(source, force)
        except StorageError:
            raise  # the database is broken (full disk...): that stops the poll, not one source
        except Exception as exc:  # noqa: BLE001 - one source's bug must not stop the others
            log.exception("source %s: unexpected error", source.name)
            message = f"internal error: {type(exc).__name__}: {exc}"[:500]
            try:
                state = self.store.source_state(source.name, source.url)
                self.store.record_source(state, status="error", http_status=None, error=message)
                self.failure_log.failed(source.name, state.failures, message)
            except Exception:  # noqa: BLE001 - already reporting a failure
                log.exception("source %s: cannot record the error", source.name)
            result = PollResult(source.name, "error", error=message, crashed=True)
        result.seconds = time.monotonic() - started
        return result

    async def _poll_until_done(self, source: Source, force: bool) -> PollResult:
        """Poll again a source whose job was lost with a worker (nothing of it was stored)."""
        for attempt in range(LOST_RETRIES + 1):
            try:
                return await self._poll(source, force)
            except WorkerLost as exc:
                if attempt < LOST_RETRIES:
                    log.warning("source %s: %s; polling it again", source.name, exc)
        state = self.store.source_state(source.name, source.url)
        return await self._fail(
            source,
            state,
            FetchError(
                f"a worker process died {LOST_RETRIES + 1} times while this source was parsed",
                hint="if only this source does it, its documents may crash the parser: "
                "report it with the source's URL",
            ),
        )

    async def _claim(self, source: Source) -> bool:
        """Claim the source in the database before fetching it (see store/cluster.py); the
        claims of polls starting together share a transaction (writer.py)."""
        return await self.writer.write(
            f"a claim on source {source.name!r}",
            lambda: self.store.claim_source(
                source.name,
                source.url,
                node=self.node,
                lease=self.config.lease,
                next_due=due_after(source.interval),
                due=self.scheduled,
            ),
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
        if self._first is None:
            self._first = asyncio.Semaphore(max(FIRST_POLLS_PER_WORKER * self.workers.count, 8))
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
        # Held until the poll is stored: at most `concurrency` sources' bodies and items are
        # in memory, waiting for a worker or the writer. A source never polled (nothing
        # stored) brings back its whole feed, to be parsed: those wait for one another, a
        # few per worker, so a first poll of many sources does not hold them all at once.
        first = self._first if state.body_hash is None else contextlib.nullcontext()
        if state.body_hash is None:
            self.workers.start()  # its body will need parsing: workers load while we fetch
        async with first, self._pool:
            try:
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
                    await self._record(state, "not modified", 304)
                    return PollResult(source.name, "not modified", http_status=304)
                digest = hashlib.sha256(resp.body).hexdigest()
                state.etag, state.last_modified = resp.etag, resp.last_modified
                if digest == state.body_hash:
                    await self._record(state, "unchanged", resp.status)
                    return PollResult(
                        source.name, "unchanged", http_status=resp.status, bytes=len(resp.body)
                    )
                # A source with nothing stored yet: all its items are new, so they are
                # cleaned and matched with the parse (unless fetches must come in between).
                at_once = state.body_hash is None and not kind.enrich and not source.full_text
                parsed = await self.workers.parse(
                    source.kind, resp.body, resp.headers, resp.url, source, clean=at_once
                )
            except FetchError as exc:
                return await self._fail(source, state, exc)
            state.body_hash = digest
            new = self._new_items(source, parsed.items)
            guard = None if source.allow_private else self.guard
            if new and kind.enrich:
                await kind.enrich(new, self.fetch_page(), source)
            if new and source.full_text:
                await add_full_text(new, self.fetch_page(guard))
            if parsed.mentions is None:
                found = await self.clean_and_match(new)
            else:
                mentions = {id(i): ms for i, ms in zip(parsed.items, parsed.mentions, strict=True)}
                found = [(item, m) for item in new for m in mentions[id(item)]]
            if found and source.archive_links:
                with_hits = list({id(item): item for item, _ in found}.values())
                await archive_links(with_hits, self.fetch_page(guard))
            provenance = Provenance(
                resp.capture(ROLES[source.kind]), __version__, self.config.sha256
            )
            result = await self._save(source, state, new, found, resp.status, provenance)
            result.bytes = len(resp.body)
            return result

    async def clean_and_match(self, items: list[Item]) -> list[tuple[Item, Mention]]:
        """Fill each item's text (its HTML cleaned, plus its linked page's) and match it.

        The HTML and the linked page are dropped once cleaned: only the text is stored.
        """
        cleaned = await self.workers.clean_and_match([(i.title, i.html, i.page) for i in items])
        found: list[tuple[Item, Mention]] = []
        for item, done in zip(items, cleaned, strict=True):
            item.title, item.text, item.html, item.page = done.title, done.text, "", None
            found += [(item, m) for m in done.mentions]
        return found

    async def _record(
        self, state: SourceState, status: str, http_status: int | None, error: str | None = None
    ) -> None:
        """Record a source's state after a poll that stored no item (batched with others),
        and tell the failure log whether the source failed."""
        await self.writer.write(
            f"the state of source {state.name!r}",
            lambda: self.store.record_source(
                state, status=status, http_status=http_status, error=error
            ),
        )
        if error is None:
            self.failure_log.succeeded(state.name, state.failures)
        else:
            self.failure_log.failed(state.name, state.failures, error)

    async def _fail(self, source: Source, state: SourceState, exc: FetchError) -> PollResult:
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
        await self._record(state, status, exc.status, message)
        return PollResult(source.name, status, error=message, http_status=exc.status)

    def _new_items(self, source: Source, items: list[Item]) -> list[Item]:
        """The items not stored yet for `source`, once each."""
        by_key: dict[str, Item] = {}
        for item in items:
            by_key.setdefault(item.key, item)
        return [by_key[k] for k in self.store.new_keys(source.name, by_key)]

    async def _save(
        self,
        source: Source,
        state: SourceState,
        new: list[Item],
        found: list[tuple[Item, Mention]],
        http_status: int,
        provenance: Provenance | None = None,
    ) -> PollResult:
        """Store the new items with their hits, deliveries and the hits' evidence.

        Once stored, the items keep their key, title and link only (what a poll's summary
        and its printed hits show): their texts and responses are in the database.
        """
        alert = state.first_poll_at is not None or source.alert_first_poll
        config = self.config
        hit_ids = await self.writer.write(
            f"the poll of source {source.name!r}",
            lambda: self.store.save_poll(
                state,
                new,
                found,
                lambda m: config.channels_for(m.entity, m.topics, source.name),
                alert=alert,
                http_status=http_status,
                story_window=config.delivery.story_window,
                provenance=provenance,
            ),
        )
        self.failure_log.succeeded(source.name, state.failures)
        for item in new:
            item.text, item.captures = "", []
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


def _now() -> datetime:
    return datetime.now(UTC)


class poller_session:
    """``async with poller_session(config, store) as poller``: a Poller with its own client
    and its own worker processes (``defaults.workers``; started with the first body to parse,
    stopped on exit)."""

    def __init__(self, config: Config, store: Store, node: str | None = None) -> None:
        self.config = config
        self.store = store
        self.node = node

    async def __aenter__(self) -> Poller:
        self.client = make_client(self.config.defaults)
        self.workers = Workers(worker_count(self.config), self.config.entities, self.config.topics)
        return Poller(self.config, self.store, self.client, self.workers, node=self.node)

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.client.aclose()
        finally:
            await self.workers.aclose()
