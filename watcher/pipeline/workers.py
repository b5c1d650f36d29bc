"""Worker processes that parse, clean and match, so a poll uses every core.

`Workers` runs the functions of work.py in a pool of `count` processes
(`concurrent.futures.ProcessPoolExecutor`, started with "spawn": a fresh interpreter that
imports only the parsers, not the daemon), or in the calling process when `count` is 0.
The event loop awaits the pool, so it keeps fetching and writing while workers parse.

The pool starts with the first job (a poll where nothing changed never starts it) and
lasts as long as its owner (a daemon's poller: started once). A worker that dies (killed,
out of memory, a crash in a parser) breaks the pool: it is replaced, and every job that was
in it fails with `WorkerLost`, so its source is polled again. A reload with other entities
or topics retires the pool; the next job starts one whose workers build the new matcher.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from watcher.config.model import Config, Entity, Source, Topic
from watcher.model import Mention
from watcher.pipeline import work
from watcher.pipeline.match import Matcher

log = logging.getLogger(__name__)

T = TypeVar("T")


class WorkerLost(Exception):
    """A worker process died while this job was in the pool: the job's work is lost."""


def worker_count(config: Config) -> int:
    """How many worker processes `config` asks for: defaults.workers, else one per core."""
    if config.defaults.workers is not None:
        return config.defaults.workers
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Workers:
    """The worker processes of one poller (or none: `count` 0 runs the work in-process)."""

    def __init__(self, count: int, entities: tuple[Entity, ...], topics: tuple[Topic, ...]):
        self.count = count
        self.entities, self.topics = tuple(entities), tuple(topics)
        self._pool: Executor | None = None
        self._matcher: Matcher | None = None  # in-process work only
        self.started = 0  # pools started, for logs and tests

    def use(self, count: int, entities: tuple[Entity, ...], topics: tuple[Topic, ...]) -> None:
        """A reloaded config: new workers if their number, the entities or the topics changed."""
        entities, topics = tuple(entities), tuple(topics)
        if (count, entities, topics) == (self.count, self.entities, self.topics):
            return
        self.count, self.entities, self.topics = count, entities, topics
        self._matcher = None
        if self._pool is not None:  # jobs in it finish with the old matcher
            self._pool.shutdown(wait=False)
            self._pool = None

    @property
    def matcher(self) -> Matcher:
        """The matcher of in-process work (built on first use)."""
        if self._matcher is None:
            self._matcher = Matcher(self.entities, self.topics)
        return self._matcher

    async def parse(
        self,
        kind: str,
        body: bytes,
        headers: dict[str, str],
        url: str,
        source: Source,
        *,
        clean: bool = False,
    ) -> work.Parsed:
        """The items of a fetched body (cleaned and matched too, with `clean`); FetchError
        when it is not a document of its kind."""
        args: tuple[Any, ...] = (kind, body, headers, url, source, clean)
        if not self.count and clean:
            args += (self.matcher,)
        parsed: work.Parsed = await self._run(work.parse_body, *args)
        if parsed.error is not None:
            raise parsed.error
        return parsed

    async def clean_and_match(self, items: list[work.ToClean]) -> list[work.Cleaned]:
        """Each item's text and mentions (see work.clean_and_match)."""
        if not items:
            return []
        if not self.count:
            return work.clean_and_match(items, self.matcher)
        return await self._run(work.clean_and_match, items)

    async def match_texts(self, texts: list[tuple[str, str]]) -> list[list[Mention]]:
        """The mentions in each (title, text)."""
        if not self.count:
            return work.match_texts(texts, self.matcher)
        return await self._run(work.match_texts, texts)

    def start(self) -> None:
        """Start the workers now, each loading the parsers, while the caller goes on fetching
        (a poll with sources never polled before will need them)."""
        if not self.count or self._pool is not None:
            return
        pool = self._start()
        for _ in range(self.count):  # one job each: spawned on demand, they all start
            pool.submit(work.load_parsers)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if not self.count:
            return fn(*args)
        pool = self._pool or self._start()
        from concurrent.futures.process import BrokenProcessPool

        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            self._replace(pool)
            raise WorkerLost(
                "a worker process died while this job was in its pool "
                "(killed, out of memory, or a crash in a parser)"
            ) from None

    def _start(self) -> Executor:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(
            self.count,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=work.start_worker,
            initargs=(self.entities, self.topics),
        )
        self.started += 1
        log.debug("started a pool of %d worker processes", self.count)
        return self._pool

    def _replace(self, broken: Executor) -> None:
        """Drop a broken pool (once, whichever job notices first); the next job starts one."""
        if self._pool is broken:
            log.warning(
                "a worker process died (killed, out of memory, or a crash in a parser): "
                "starting new workers; the sources it held are polled again"
            )
            self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        """Stop the workers once their current jobs are done."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)
