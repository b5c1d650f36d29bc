"""Stories in the database: which story an item joins, and what a story's copies are.

An item meets an earlier copy of its story by a shared key (canonical URL, Commission
reference) or a near-identical title within a window; title keys are found again through
an index of their words (story_title_words), not compared with every title in the window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from watcher.model import Item, StoryCopy
from watcher.store.base import StoreBase
from watcher.story import TitleComparer, story_keys, title_words


def _shift(stamp: str, seconds: float) -> str:
    return (datetime.fromisoformat(stamp) + timedelta(seconds=seconds)).isoformat(
        timespec="seconds"
    )


class StoryStore(StoreBase):
    def assign_story(self, item: Item, at: str, window: float) -> int:
        """The story id of `item` (an existing one it matches, or a new one); records its keys.

        Runs inside the caller's transaction. Titles only match within `window` seconds of
        the item's date; URLs and references match at any distance.
        """
        when = item.published or at
        keys = story_keys(item.title, item.link, item.text)
        story: int | None = None
        for key in keys:
            if key.startswith("title:"):
                story = self._similar_title(key, when, window)
            else:
                found = self._value("SELECT story_id FROM story_keys WHERE key = ? LIMIT 1", [key])
                story = int(found) if found is not None else None
            if story is not None:
                break
        if story is None:
            story = self._insert(
                "INSERT INTO stories (title, created) VALUES (?, ?)",
                [item.title or "(untitled)", at],
            )
            assert story is not None
        for key in keys:
            cur = self._execute(
                "INSERT INTO story_keys (key, story_id, at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [key, story, when],
            )
            if cur.rowcount and key.startswith("title:"):
                self.index_title(key, story, when)
        return story

    def lock_stories(self, items: list[Item]) -> None:
        """Concurrent polls on PostgreSQL that store copies of one story take turns (inside
        the caller's transaction), so the second sees the first's story and merges into it.

        Keys are locked in sorted order, so two polls never wait for each other in a circle.
        """
        if not self.dialect.lock_key:
            return  # SQLite has one writer at a time
        keys = sorted({k for item in items for k in story_keys(item.title, item.link, item.text)})
        for key in keys:
            self._execute(self.dialect.lock_key, [key])

    def index_title(self, key: str, story: int, at: str) -> None:
        """Record a title key's words, by which `_similar_title` finds it again."""
        words, numbers = title_words(key)
        self.engine.executemany(
            "INSERT INTO story_title_words (word, numbers, at, key, story_id) "
            "VALUES (?, ?, ?, ?, ?)",
            [(word, numbers, at, key, story) for word in words],
        )

    def _similar_title(self, key: str, when: str, window: float) -> int | None:
        try:
            low, high = _shift(when, -window), _shift(when, window)
        except ValueError:
            return None
        exact = self._value(
            "SELECT story_id FROM story_keys WHERE key = ? AND at BETWEEN ? AND ? LIMIT 1",
            [key, low, high],
        )
        if exact is not None:
            return int(exact)
        # Titles that differ in a number ("Decision 1234" / "Decision 1235", "Daily News
        # 12/03" / "13/03") are different stories however alike the rest: numbers must be equal.
        comparer = TitleComparer(key)
        if not comparer.probe:
            return None
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
