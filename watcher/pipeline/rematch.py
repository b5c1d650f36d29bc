"""Re-run matching over stored items after the watchlist changed.

New hits are stored as retroactive and, unless asked, not alerted. Hits that no longer
match the config are reported and marked (`unmatched_at`), never deleted: the database is
the users' record of what was found and alerted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from watcher.config.model import Config
from watcher.pipeline.match import Matcher
from watcher.store import Store
from watcher.timeparse import now_iso


@dataclass
class RematchReport:
    """What a rematch found: items scanned, new hits, hits that no longer match."""

    items: int = 0
    new: list[dict[str, Any]] = field(default_factory=list)
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    rematched: int = 0  # hits marked unmatched before that match again
    deliveries: int = 0


def rematch_items(
    store: Store,
    config: Config,
    *,
    since: str | None = None,
    alert: bool = False,
    matcher: Matcher | None = None,
) -> RematchReport:
    """Match stored items (published since `since`) again; each batch is one transaction."""
    matcher = matcher or Matcher(config.entities, config.topics)
    report = RematchReport()
    at = now_iso()
    for batch in store.items_since(since):
        existing = store.hits_of_items([r["id"] for r in batch])
        with store.writing("rematched hits"):
            for item in batch:
                report.items += 1
                had = existing.get(item["id"], {})
                found = {m.entity: m for m in matcher.match(item["title"], item["text"])}
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
    return report


def _row(hit_id: int, entity: str, item: dict[str, Any], matched: str | None) -> dict[str, Any]:
    row = {"id": hit_id, "entity": entity, "source": item["source"], "title": item["title"]}
    if matched is not None:
        row["matched"] = matched
    return row
