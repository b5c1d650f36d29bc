"""Re-run matching over stored items after the watchlist changed.

New hits are stored as retroactive and, unless asked, not alerted. Hits that no longer
match the config are reported and marked (`unmatched_at`), never deleted: the database is
the users' record of what was found and alerted.

Items are read in batches of 500, matched by the worker processes (workers.py: every core,
the same matcher as a poll), a few batches ahead of the one being written; each batch's
writes are one transaction.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from watcher.config.model import Config
from watcher.model import Mention
from watcher.pipeline.workers import WorkerLost, Workers
from watcher.store import Store
from watcher.timeparse import now_iso

LOST_RETRIES = 2  # a batch whose worker died is matched again, this many times at most


@dataclass
class RematchReport:
    """What a rematch found: items scanned, new hits, hits that no longer match."""

    items: int = 0
    new: list[dict[str, Any]] = field(default_factory=list)
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    rematched: int = 0  # hits marked unmatched before that match again
    deliveries: int = 0


async def rematch_items(
    store: Store,
    config: Config,
    workers: Workers,
    *,
    since: str | None = None,
    alert: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> RematchReport:
    """Match stored items (published since `since`) again; each batch is one transaction.

    `on_batch(n)` is called after each batch of n items is written (a progress bar's tick).
    """
    report = RematchReport()
    at = now_iso()
    ahead: deque[tuple[list[dict[str, Any]], asyncio.Task[list[list[Mention]]]]] = deque()
    for batch in store.items_since(since):
        texts = [(r["title"], r["text"]) for r in batch]
        ahead.append((batch, asyncio.ensure_future(_match(workers, texts))))
        if len(ahead) > max(2 * workers.count, 1):
            _write(store, config, report, at, alert, *await _next(ahead), on_batch)
    while ahead:
        _write(store, config, report, at, alert, *await _next(ahead), on_batch)
    return report


async def _next(
    ahead: deque[tuple[list[dict[str, Any]], asyncio.Task[list[list[Mention]]]]],
) -> tuple[list[dict[str, Any]], list[list[Mention]]]:
    batch, task = ahead.popleft()
    try:
        return batch, await task
    except BaseException:
        for _, other in ahead:  # an error ends the rematch: stop the batches matched ahead
            other.cancel()
        raise


async def _match(workers: Workers, texts: list[tuple[str, str]]) -> list[list[Mention]]:
    for attempt in range(LOST_RETRIES + 1):
        try:
            return await workers.match_texts(texts)
        except WorkerLost:
            if attempt == LOST_RETRIES:
                raise
    raise AssertionError("unreachable")


def _write(
    store: Store,
    config: Config,
    report: RematchReport,
    at: str,
    alert: bool,
    batch: list[dict[str, Any]],
    matched: list[list[Mention]],
    on_batch: Callable[[int], None] | None,
) -> None:
    """Store one batch's new hits and mark the ones no longer found, in one transaction."""
    existing = store.hits_of_items([r["id"] for r in batch])
    with store.writing("rematched hits"):
        for item, mentions in zip(batch, matched, strict=True):
            report.items += 1
            had = existing.get(item["id"], {})
            found = {m.entity: m for m in mentions}
            for entity, m in found.items():
                old = had.get(entity)
                if old is not None:
                    if old["unmatched_at"]:
                        store.set_unmatched(old["id"], None)
                        report.rematched += 1
                    continue
                hit_id = store.insert_hit(item["id"], m, at, alerted=alert, retroactive=True)
                channels = config.channels_for(entity, m.topics, item["source"])
                if alert:
                    store.add_deliveries(hit_id, channels, at)
                    report.deliveries += len(channels)
                report.new.append(_row(hit_id, entity, item, m.matched))
            for entity, old in had.items():
                if entity in found:
                    continue
                if not old["unmatched_at"]:
                    store.set_unmatched(old["id"], at)
                report.unmatched.append(_row(old["id"], entity, item, None))
    if on_batch:
        on_batch(len(batch))


def _row(hit_id: int, entity: str, item: dict[str, Any], matched: str | None) -> dict[str, Any]:
    row = {"id": hit_id, "entity": entity, "source": item["source"], "title": item["title"]}
    if matched is not None:
        row["matched"] = matched
    return row
