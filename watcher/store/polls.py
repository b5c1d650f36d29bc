"""What a poll writes: a source's state, its new items, their hits, stories and deliveries.

A poll's writes for one source go in one transaction (`save_poll`), so a crash or a full
disk never leaves a hit without its deliveries or an item half-stored. Rows go in by the
hundred (multi-row INSERT ... RETURNING, executemany), not one statement per row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from watcher.model import Item, Mention, Provenance, SourceState
from watcher.store.evidence import EvidenceStore
from watcher.store.stories import StoryStore
from watcher.timeparse import now_iso

T = TypeVar("T")


class PollStore(StoryStore, EvidenceStore):
    def source_state(self, name: str, url: str) -> SourceState:
        """The stored state of a source, or a fresh one if it was never polled."""
        rows = self._query("SELECT * FROM sources WHERE name = ?", [name])
        if not rows:
            return SourceState(name=name, url=url)
        r = rows[0]
        return SourceState(
            name=name,
            url=r["url"],
            etag=r["etag"],
            last_modified=r["last_modified"],
            body_hash=r["body_hash"],
            first_poll_at=r["first_poll_at"],
            failures=r["failures"],
            next_poll_at=r.get("next_poll_at"),
            moved_to=r.get("moved_to"),
            gone_at=r.get("gone_at"),
        )

    def record_source(
        self,
        state: SourceState,
        *,
        status: str,
        http_status: int | None,
        error: str | None = None,
        at: str | None = None,
    ) -> None:
        """Upsert a source's state after a poll (`error` set means the poll failed)."""
        at = at or now_iso()
        ok = error is None
        row: dict[str, Any] = {
            "name": state.name,
            "url": state.url,
            "last_poll_at": at,
            "last_status": status,
            "http_status": http_status,
            "last_error": error,
            "failures": 0 if ok else state.failures + 1,
            "next_poll_at": state.next_poll_at,
            "moved_to": state.moved_to,
            "gone_at": state.gone_at,
        }
        if ok:
            row.update(
                etag=state.etag,
                last_modified=state.last_modified,
                body_hash=state.body_hash,
                last_success_at=at,
                first_poll_at=state.first_poll_at or at,
            )
        # The poll is over: its claim on the source ends with it (cluster.py).
        row.update(lease_node=None, lease_until=None)
        columns = list(row)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "name")
        self._write(
            f"the state of source {state.name!r}",
            f"INSERT INTO sources ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT (name) DO UPDATE SET {updates}",
            list(row.values()),
        )

    def new_keys(self, source: str, keys: Iterable[str]) -> list[str]:
        """Those of `keys` not stored yet for `source`, in order, once each."""
        keys = list(dict.fromkeys(keys))
        seen: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            seen.update(
                r[0]
                for r in self._execute(
                    f"SELECT key FROM items WHERE source = ? AND key IN ({marks})", [source, *chunk]
                ).fetchall()
            )
        return [k for k in keys if k not in seen]

    def save_poll(
        self,
        state: SourceState,
        items: list[Item],
        found: list[tuple[Item, Mention]],
        channels_for: Callable[[Mention], list[str]],
        *,
        alert: bool,
        http_status: int | None,
        story_window: float = 48 * 3600.0,
        provenance: Provenance | None = None,
    ) -> list[int]:
        """Store a poll's new items, hits, deliveries and source state in one transaction.

        The transaction is the poll's own, or the caller's when called inside `writing()`:
        the poller writes the polls of several sources in one (each in a savepoint).
        Returns the new hit ids. `channels_for(mention)` names the channels that get a
        delivery for a hit (routing); with `alert` false (a new source's first poll) none is
        created. Each hit joins a story; a channel that already has a delivery for the story
        and entity gets a 'merged' one (recorded, not sent). With `provenance`, each hit's
        evidence is kept: the source's response and its item's captures (store/evidence.py).
        """
        at = now_iso()
        with self.writing(f"the poll of source {state.name!r}"):
            ids = self._insert_items(state.name, items, at)
            kept = [(item, mention) for item, mention in found if item.key in ids]
            self.lock_stories([item for item, _ in kept])
            stories = self.assign_stories(
                list({id(i): i for i, _ in kept}.values()), at, story_window
            )
            hit_ids = self._insert_hits(
                [(ids[item.key], mention, stories[item.key]) for item, mention in kept],
                at,
                alerted=alert,
            )
            if alert:
                self._add_poll_deliveries(
                    [
                        (hit_id, stories[item.key], m)
                        for hit_id, (item, m) in zip(hit_ids, kept, strict=True)
                    ],
                    channels_for,
                    at,
                )
            if provenance is not None and kept:
                evidence = [(hit_id, item) for hit_id, (item, _) in zip(hit_ids, kept, strict=True)]
                self.keep_evidence(evidence, provenance, at)
            self.record_source(state, status="ok", http_status=http_status, at=at)
        return hit_ids

    def _insert_items(self, source: str, items: list[Item], at: str) -> dict[str, int]:
        """Insert the items not stored yet (inside the caller's transaction): key -> new id."""
        ids: dict[str, int] = {}
        for chunk in _chunks(items, 100):
            rows = self._execute(
                "INSERT INTO items (source, key, title, link, published, discovered, text, extra) "
                f"VALUES {_marks(8, len(chunk))} ON CONFLICT (source, key) DO NOTHING "
                "RETURNING id, key",
                [
                    value
                    for item in chunk
                    for value in (
                        source,
                        item.key,
                        item.title,
                        item.link,
                        item.published,
                        at,
                        item.text,
                        json.dumps(item.extra or {}, ensure_ascii=False),
                    )
                ],
            ).fetchall()
            ids.update((key, int(item_id)) for item_id, key in rows)
        return ids

    def _insert_hits(
        self, hits: list[tuple[int, Mention, int | None]], at: str, *, alerted: bool
    ) -> list[int]:
        """Insert hits (item id, mention, story) in order, inside the caller's transaction."""
        ids: dict[tuple[int, str], int] = {}
        for chunk in _chunks(hits, 50):
            rows = self._execute(
                'INSERT INTO hits (item_id, entity, matched, field, start, "end", snippet, '
                "created, alerted, topics, alias, kind, confirmed_by, marked, retroactive, "
                f"story_id) VALUES {_marks(16, len(chunk))} RETURNING id, item_id, entity",
                [
                    value
                    for item_id, m, story in chunk
                    for value in _hit_values(item_id, m, at, alerted, False, story)
                ],
            ).fetchall()
            ids.update(((int(item_id), entity), int(hit_id)) for hit_id, item_id, entity in rows)
        return [ids[(item_id, m.entity)] for item_id, m, _ in hits]

    def _add_poll_deliveries(
        self,
        hits: list[tuple[int, int, Mention]],
        channels_for: Callable[[Mention], list[str]],
        at: str,
    ) -> None:
        """Deliveries of new hits (id, story, mention): pending, or merged into the story's."""
        delivered: set[tuple[str, int, str]] = set()  # (channel, story, entity) with an alert
        rows = []
        for hit_id, story, m in hits:
            for channel in channels_for(m):
                key = (channel, story, m.entity)
                seen = key in delivered or self.story_delivered(channel, story, m.entity)
                delivered.add(key)
                rows.append((hit_id, channel, "merged" if seen else "pending", at, at))
        self.engine.executemany(
            "INSERT INTO deliveries (hit_id, channel, status, created, updated) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )

    def insert_hit(
        self,
        item_id: int,
        m: Mention,
        at: str,
        *,
        alerted: bool,
        retroactive: bool = False,
        story: int | None = None,
    ) -> int:
        """Insert one hit row (inside the caller's transaction); returns its id."""
        hit_id = self._insert(
            'INSERT INTO hits (item_id, entity, matched, field, start, "end", snippet, created, '
            "alerted, topics, alias, kind, confirmed_by, marked, retroactive, story_id) "
            f"VALUES {_marks(16, 1)}",
            _hit_values(item_id, m, at, alerted, retroactive, story),
        )
        assert hit_id is not None
        return hit_id

    def add_deliveries(self, hit_id: int, channels: Iterable[str], at: str) -> None:
        """Pending deliveries of one hit to these channels (inside the caller's transaction)."""
        self.engine.executemany(
            "INSERT INTO deliveries (hit_id, channel, status, created, updated) "
            "VALUES (?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING",
            [(hit_id, channel, at, at) for channel in channels],
        )


def _hit_values(
    item_id: int, m: Mention, at: str, alerted: bool, retroactive: bool, story: int | None
) -> tuple[Any, ...]:
    """A hit row's values, in the column order of the INSERTs above."""
    return (
        item_id,
        m.entity,
        m.matched,
        m.field,
        m.start,
        m.end,
        m.snippet,
        at,
        int(alerted),
        json.dumps(list(m.topics)),
        m.alias,
        m.kind,
        m.confirmed_by,
        m.marked,
        int(retroactive),
        story,
    )


def _marks(columns: int, rows: int) -> str:
    """The VALUES rows of a multi-row INSERT: "(?, ?), (?, ?)"."""
    row = "(" + ", ".join("?" * columns) + ")"
    return ", ".join([row] * rows)


def _chunks(rows: list[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]
