"""The poller's database writes, batched: many sources' polls in one transaction.

A poll hands its writes (a function of the store) to `Writer.write` and awaits the result.
The first write starts a batch; whatever other polls hand over while a batch is being
written goes in the next one. So a quiet daemon writes each poll as it comes, while 300
answers arriving together (a first poll, a cycle of 304s) take a few transactions instead
of 300, each with its sync to disk.

Each write runs in a savepoint of the batch's transaction: a bug in one poll's write undoes
that write alone. A storage error (full disk, read-only file) undoes the whole batch and is
raised to every poll in it: nothing of theirs is stored, and their next poll tries again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from watcher.errors import StorageError
from watcher.store import Store

T = TypeVar("T")


class Writer:
    """Batches the writes of concurrent polls into shared transactions of `store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: list[tuple[Callable[[], Any], str, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # transactions written, for tests and benchmarks

    async def write(self, what: str, fn: Callable[[], T]) -> T:
        """Run `fn()` (writes to the store) in the next batch; its result, or its error."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((fn, what, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # polls ready at the same moment join the first batch
        while self._queue:
            batch, self._queue = self._queue, []
            self._write(batch)
            await asyncio.sleep(0)

    def _write(self, batch: list[tuple[Callable[[], Any], str, asyncio.Future[Any]]]) -> None:
        done: list[tuple[asyncio.Future[Any], Any]] = []
        failed: list[tuple[asyncio.Future[Any], BaseException]] = []
        what = batch[0][1] if len(batch) == 1 else f"{len(batch)} polls"
        try:
            with self.store.writing(what):
                for fn, name, future in batch:
                    if future.cancelled():  # that poll was abandoned (a stop's grace ran out)
                        continue
                    try:
                        with self.store.writing(name):
                            done.append((future, fn()))
                    except StorageError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - that poll's bug, not the others'
                        failed.append((future, exc))
        except StorageError as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException as exc:  # cancelled, interrupted: nothing was committed
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            raise
        self.batches += 1
        for future, result in done:
            if not future.done():
                future.set_result(result)
        for future, error in failed:
            if not future.done():
                future.set_exception(error)
