"""Find watched entities in an item's title and text.

Each alias matches on word boundaries, case-insensitively, in the title and the text;
typographic apostrophes and any run of whitespace (line breaks, non-breaking spaces)
inside an alias match their plain forms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from watcher.config import Entity
from watcher.text import make_snippet

_APOSTROPHES = "'\u2019\u02bc\u2018"


@dataclass(frozen=True)
class Mention:
    """Where an entity was found: the alias as written in the item, the field and offsets."""

    entity: str
    matched: str
    field: str  # "title" or "text"
    start: int
    end: int
    snippet: str
    topics: tuple[str, ...] = ()  # topic names found in the same item


def _alias_pattern(alias: str) -> str:
    out = []
    for word in alias.split():
        out.append(
            "".join(f"[{_APOSTROPHES}]" if ch in _APOSTROPHES else re.escape(ch) for ch in word)
        )
    return r"\s+".join(out)


class Matcher:
    """Matches a fixed set of entities; build once per config load."""

    def __init__(self, entities: Iterable[Entity]) -> None:
        self.entities = tuple(entities)
        self._patterns = [
            (
                e.name,
                re.compile(
                    r"(?<!\w)(?:"
                    + "|".join(_alias_pattern(a) for a in sorted(e.aliases, key=len, reverse=True))
                    + r")(?!\w)",
                    re.IGNORECASE,
                ),
            )
            for e in self.entities
        ]

    def match(self, title: str, text: str) -> list[Mention]:
        """One Mention per entity found, the first in the title, else the first in the text."""
        found = []
        for name, pattern in self._patterns:
            for field, content in (("title", title), ("text", text)):
                m = pattern.search(content)
                if m:
                    snippet = make_snippet(content, m.start(), m.end())
                    found.append(Mention(name, m.group(0), field, m.start(), m.end(), snippet))
                    break
        return found
