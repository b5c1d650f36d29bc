"""Stories in the database: which story an item joins, and what a story's copies are.

An item meets an earlier copy of its story by a shared key (canonical URL, Commission
reference) or a near-identical title within a window; title keys are found again through
an index of their words (story_title_words), not compared with every title in the window.

A poll's items are assigned together (`assign_stories`): the stored keys they could meet
are read in a few queries up front, each item then sees them and the keys of the items
before it, exactly as if they were assigned one by one; the keys are written at the end.
A title is looked up by its words only when some stored title shares a word and the
numbers with it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from watcher.model import Item, StoryCopy
from watcher.store.base import StoreBase

CHUNK = 400  # keys per lookup query


def _shift(stamp: str, seconds: float) -> str:
    return (datetime.fromisoformat(stamp) + timedelta(seconds=seconds)).isoformat(
        timespec="seconds"
    )


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), CHUNK):
        yield values[i : i + CHUNK]


class _Known:
    """The story keys a batch of items can meet: read once, then kept up to date."""

    def __init__(self) -> None:
        self.first: dict[str, int] = {}  # url/ref key -> its lowest story id
        self.titles: dict[str, list[tuple[int, str]]] = {}  # title key -> (story, at) rows
        self.pairs: set[tuple[str, int]] = set()  # (title key, story) stored
        self.words: set[tuple[str, str]] = set()  # (word, numbers) in the title index
        self.new_keys: list[tuple[str, int, str]] = []  # (key, story, at) to insert
        self.new_words: list[tuple[str, str, str, str, int]] = []  # title index rows to insert


class StoryStore(StoreBase):
    def assign_story(self, item: Item, at: str, window: float) -> int:
        """The story id of `item` (an existing one it matches, or a new one); records its keys.

        Runs inside the caller's transaction. Titles only match within `window` seconds of
        the item's date; URLs and references match at any distance.
        """
        return self.assign_stories([item], at, window)[item.key]

    def assign_stories(self, items: list[Item], at: str, window: float) -> dict[str, int]:
        """The story of each item (item key -> story id), in order, as `assign_story` would."""
        from watcher.story import TitleComparer, story_keys

        keys = {item.key: story_keys(item.title, item.link, item.text) for item in items}
        known = self._known_keys([k for ks in keys.values() for k in ks])
        stories: dict[str, int] = {}
        for item in items:
            if item.key in stories:
                continue
            when = item.published or at
            story: int | None = None
            for key in keys[item.key]:
                if key.startswith("title:"):
                    story = self._similar_title(key, when, window, known, TitleComparer)
                else:
                    story = known.first.get(key)
                if story is not None:
                    break
            if story is None:
                story = self._insert(
                    "INSERT INTO stories (title, created) VALUES (?, ?)",
                    [item.title or "(untitled)", at],
                )
                assert story is not None
            for key in keys[item.key]:
                self._add_key(known, key, story, when)
            stories[item.key] = story
        self._flush(known)
        return stories

    def lock_stories(self, items: list[Item]) -> None:
        """Concurrent polls on PostgreSQL that store copies of one story take turns (inside
        the caller's transaction), so the second sees the first's story and merges into it.

        Keys are locked in sorted order, so two polls never wait for each other in a circle.
        """
        if not self.dialect.lock_key:
            return  # SQLite has one writer at a time
        from watcher.story import story_keys

        keys = sorted({k for item in items for k in story_keys(item.title, item.link, item.text)})
        for key in keys:
            self._execute(self.dialect.lock_key, [key])

    def _known_keys(self, keys: list[str]) -> _Known:
        """What the database holds of these keys, and which title words it indexes."""
        from watcher.story import probe_words, title_words

        known = _Known()
        plain = sorted({k for k in keys if not k.startswith("title:")})
        titles = sorted({k for k in keys if k.startswith("title:")})
        for chunk in _chunks(plain):
            marks = ",".join("?" * len(chunk))
            known.first.update(
                self._execute(
                    f"SELECT key, MIN(story_id) FROM story_keys WHERE key IN ({marks}) "
                    "GROUP BY key",
                    list(chunk),
                ).fetchall()
            )
        for chunk in _chunks(titles):
            marks = ",".join("?" * len(chunk))
            for key, story, at in self._execute(
                f"SELECT key, story_id, at FROM story_keys WHERE key IN ({marks})", list(chunk)
            ).fetchall():
                known.titles.setdefault(key, []).append((int(story), at))
                known.pairs.add((key, int(story)))
        probes: set[tuple[str, str]] = set()
        for key in titles:
            words, digits = title_words(key)
            probes.update((word, digits) for word in probe_words(words)[1])
        all_digits = sorted({n for _, n in probes})
        for chunk in _chunks(sorted({w for w, _ in probes})):
            # word IN x numbers IN: one index seek per combination (a row-value IN would scan)
            for part in _chunks(all_digits):
                found = self._execute(
                    "SELECT DISTINCT word, numbers FROM story_title_words "
                    f"WHERE word IN ({','.join('?' * len(chunk))}) "
                    f"AND numbers IN ({','.join('?' * len(part))})",
                    [*chunk, *part],
                ).fetchall()
                known.words.update(pair for pair in found if pair in probes)
        return known

    def _add_key(self, known: _Known, key: str, story: int, when: str) -> None:
        """Record that `key` leads to `story` (written by _flush); a new title is indexed."""
        from watcher.story import title_words

        if not key.startswith("title:"):
            known.first[key] = min(known.first.get(key, story), story)
            known.new_keys.append((key, story, when))
            return
        if (key, story) in known.pairs:
            return
        known.pairs.add((key, story))
        known.titles.setdefault(key, []).append((story, when))
        known.new_keys.append((key, story, when))
        words, numbers = title_words(key)
        known.words.update((word, numbers) for word in words)
        known.new_words += [(word, numbers, when, key, story) for word in words]

    def _flush(self, known: _Known) -> None:
        """Write the keys and title words recorded since the last flush."""
        self.engine.executemany(
            "INSERT INTO story_keys (key, story_id, at) VALUES (?, ?, ?) "
            "ON CONFLICT (key, story_id) DO NOTHING",
            known.new_keys,
        )
        self.engine.executemany(
            "INSERT INTO story_title_words (word, numbers, at, key, story_id) "
            "VALUES (?, ?, ?, ?, ?)",
            known.new_words,
        )
        known.new_keys, known.new_words = [], []

    def _similar_title(
        self, key: str, when: str, window: float, known: _Known, comparer_class: Any
    ) -> int | None:
        try:
            low, high = _shift(when, -window), _shift(when, window)
        except ValueError:
            return None
        exact = [story for story, at in known.titles.get(key, ()) if low <= at <= high]
        if exact:
            return min(exact)
        # Titles that differ in a number ("Decision 1234" / "Decision 1235", "Daily News
        # 12/03" / "13/03") are different stories however alike the rest: numbers must be equal.
        comparer = comparer_class(key)
        if not comparer.probe or not any(
            (w, comparer.numbers) in known.words for w in comparer.probe
        ):
            return None  # no stored title shares a probe word and the numbers
        self._flush(known)  # the index query must see this batch's titles too
        marks = ",".join("?" * len(comparer.probe))
        for other, story in self._execute(
            f"SELECT key, story_id FROM story_title_words WHERE word IN ({marks}) "
            "AND numbers = ? AND at BETWEEN ? AND ? GROUP BY key, story_id ORDER BY MAX(at) DESC",
            [*comparer.probe, comparer.numbers, low, high],
        ).fetchall():
            if comparer.similar(other):
                return int(story)
        return None

    def story_delivered(self, channel: str, story: int, entity: str) -> bool:
        """True when `channel` already has an alert (sent or queued) for this story and entity."""
        found = self._value(
            "SELECT 1 FROM deliveries d JOIN hits h ON h.id = d.hit_id "
            "WHERE d.channel = ? AND h.story_id = ? AND h.entity = ? AND d.status != 'merged' "
            "LIMIT 1",
            [channel, story, entity],
        )
        return found is not None

    def story_copies(self, story: int | None) -> list[StoryCopy]:
        """The items of a story, oldest first (one per item)."""
        if story is None:
            return []
        rows = self._execute(
            """SELECT DISTINCT i.id, i.source, i.title, i.link,
                      COALESCE(i.published, i.discovered) AS published
               FROM hits h JOIN items i ON i.id = h.item_id
               WHERE h.story_id = ? ORDER BY i.id""",
            [story],
        ).fetchall()
        return [
            StoryCopy(source, title, link, published) for _, source, title, link, published in rows
        ]
