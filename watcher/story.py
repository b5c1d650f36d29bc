"""Stories: the same news from several sources, clustered so a channel gets one alert.

Two items are one story when they share a canonical URL (lower-case host, no fragment, no
tracking parameters), a Commission reference (IP/24/1234, also read from presscorner links
like ``detail/en/ip_24_1234``), or a near-identical normalised title within a time window.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import sqlite_utils

TRACKING = re.compile(
    r"^(utm_.*|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|mc_cid|mc_eid|igshid|_hsenc|"
    r"_hsmi|mkt_tok|ocid|cmpid|at_medium|at_campaign|xtor)$",
    re.IGNORECASE,
)
_REF = re.compile(
    r"\b(IP|MEMO|STATEMENT|SPEECH|QANDA|MEX|AC|INFOGRAPHIC|FS)\s*/\s*(\d{2})\s*/\s*(\d{1,5})\b",
    re.IGNORECASE,
)
_REF_IN_URL = re.compile(
    r"/(ip|memo|statement|speech|qanda|mex|ac)_(\d{2})_(\d{1,5})(?:$|[/?#&])", re.IGNORECASE
)
_NOT_WORD = re.compile(r"[\W_]+")
_NUMBER = re.compile(r"\d+")
TITLE_SIMILARITY = 0.9  # difflib ratio above which two normalised titles are one story
TITLE_MIN_CHARS = 20  # shorter titles ("Press release", "Daily News") never cluster by title


def canonical_url(url: str | None) -> str | None:
    """The URL as a story key: host lower-cased, no scheme, fragment, tracking parameters."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True))
    kept = [(k, v) for k, v in query if not TRACKING.match(k)]
    path = parts.path.rstrip("/") or "/"
    return host + path + ("?" + urlencode(kept) if kept else "")


def commission_refs(title: str, link: str | None, text: str) -> set[str]:
    """Commission references (IP/24/1234) in the title and link, and in the text if only one."""
    found = {_ref(m) for m in _REF.finditer(title)}
    if link:
        found |= {_ref(m) for m in _REF_IN_URL.finditer(link)}
    # A text citing several references is about several things: none of them identifies it.
    in_text = {_ref(m) for m in _REF.finditer(text)}
    if len(in_text) == 1:
        found |= in_text
    return found


def _ref(m: re.Match[str]) -> str:
    return f"{m.group(1).upper()}/{m.group(2)}/{int(m.group(3))}"


def normalise_title(title: str) -> str:
    """Lower case, accents and punctuation removed, whitespace folded."""
    decomposed = unicodedata.normalize("NFKD", title)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(_NOT_WORD.sub(" ", bare.lower()).split())


def story_keys(item: dict[str, Any]) -> list[str]:
    """The keys under which an item can meet another copy of its story (strongest first)."""
    keys = []
    url = canonical_url(item.get("link"))
    if url:
        keys.append("url:" + url)
    keys += sorted(
        "ref:" + r for r in commission_refs(item["title"], item.get("link"), item["text"])
    )
    title = normalise_title(item["title"])
    if len(title) >= TITLE_MIN_CHARS:
        keys.append("title:" + title)
    return keys


def _shift(stamp: str, seconds: float) -> str:
    return (datetime.fromisoformat(stamp) + timedelta(seconds=seconds)).isoformat(
        timespec="seconds"
    )


def assign_story(db: sqlite_utils.Database, item: dict[str, Any], at: str, window: float) -> int:
    """The story id of `item` (an existing one it matches, or a new one); records its keys.

    Runs inside the caller's transaction. Titles only match within `window` seconds of the
    item's date; URLs and references match at any distance.
    """
    when = item.get("published") or at
    keys = story_keys(item)
    story: int | None = None
    for key in keys:
        if key.startswith("title:"):
            story = _similar_title(db, key, when, window)
        else:
            row = db.execute("SELECT story_id FROM story_keys WHERE key = ? LIMIT 1", [key])
            found = row.fetchone()
            story = int(found[0]) if found else None
        if story is not None:
            break
    if story is None:
        cur = db.execute(
            "INSERT INTO stories (title, created) VALUES (?, ?)",
            [item["title"] or "(untitled)", at],
        )
        story = int(cur.lastrowid or 0)
    for key in keys:
        cur = db.execute(
            "INSERT OR IGNORE INTO story_keys (key, story_id, at) VALUES (?, ?, ?)",
            [key, story, when],
        )
        if cur.rowcount and key.startswith("title:"):
            index_title(db, key, story, when)
    return story


def _title_words(key: str) -> tuple[set[str], str]:
    title = key[len("title:") :]
    return set(title.split()), " ".join(_NUMBER.findall(title))


def index_title(db: sqlite_utils.Database, key: str, story: int, at: str) -> None:
    """Record a title key's words, by which `_similar_title` finds it again."""
    words, numbers = _title_words(key)
    for word in words:
        db.execute(
            "INSERT INTO story_title_words (word, numbers, at, key, story_id) "
            "VALUES (?, ?, ?, ?, ?)",
            [word, numbers, at, key, story],
        )


def _similar_title(db: sqlite_utils.Database, key: str, when: str, window: float) -> int | None:
    try:
        low, high = _shift(when, -window), _shift(when, window)
    except ValueError:
        return None
    exact = db.execute(
        "SELECT story_id FROM story_keys WHERE key = ? AND at BETWEEN ? AND ? LIMIT 1",
        [key, low, high],
    ).fetchone()
    if exact:
        return int(exact[0])
    title = key[len("title:") :]
    words, numbers = _title_words(key)
    # A candidate must share `needed` words, so it shares one of any len(words) - needed + 1
    # of them (the longest: likely the rarest). Titles that differ in a number ("Decision
    # 1234" / "Decision 1235", "Daily News 12/03" / "13/03") are different stories however
    # alike the rest, so numbers must be equal.
    needed = math.ceil(TITLE_SIMILARITY * 0.6 * len(words))
    probe = sorted(words, key=lambda w: (-len(w), w))[: len(words) - needed + 1]
    if not probe:
        return None
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(title)  # SequenceMatcher caches what it learns about seq2
    marks = ",".join("?" * len(probe))
    for other, story in db.execute(
        f"SELECT DISTINCT key, story_id FROM story_title_words WHERE word IN ({marks}) "
        "AND numbers = ? AND at BETWEEN ? AND ? ORDER BY at DESC",
        [*probe, numbers, low, high],
    ).fetchall():
        candidate = other[len("title:") :]
        # Cheap filters first: shared words, then difflib's upper bounds, then the ratio.
        shared = words & set(candidate.split())
        if len(shared) < needed:
            continue
        matcher.set_seq1(candidate)
        if (
            matcher.real_quick_ratio() >= TITLE_SIMILARITY
            and matcher.quick_ratio() >= TITLE_SIMILARITY
            and matcher.ratio() >= TITLE_SIMILARITY
        ):
            return int(story)
    return None


def story_delivered(db: sqlite_utils.Database, channel: str, story: int, entity: str) -> bool:
    """True when `channel` already has an alert (sent or queued) for this story and entity."""
    row = db.execute(
        "SELECT 1 FROM deliveries d JOIN hits h ON h.id = d.hit_id "
        "WHERE d.channel = ? AND h.story_id = ? AND h.entity = ? AND d.status != 'merged' "
        "LIMIT 1",
        [channel, story, entity],
    ).fetchone()
    return row is not None


def story_copies(db: sqlite_utils.Database, story: int | None) -> list[dict[str, Any]]:
    """The items of a story, oldest first: source, title, link (one row per item)."""
    if story is None:
        return []
    return list(
        db.query(
            """SELECT DISTINCT i.id, i.source, i.title, i.link,
                      COALESCE(i.published, i.discovered) AS published
               FROM hits h JOIN items i ON i.id = h.item_id
               WHERE h.story_id = ? ORDER BY i.id""",
            [story],
        )
    )


def group_stories(hits: list[dict[str, Any]], limit: int | None = None) -> list[dict[str, Any]]:
    """Hits (newest first, as Store.query_hits gives them) grouped one row per story."""
    stories: dict[Any, dict[str, Any]] = {}
    for hit in hits:
        key = hit.get("story") or f"hit {hit['id']}"  # a hit stored without a story
        row = stories.get(key)
        if row is None:
            if limit and len(stories) >= limit:
                continue
            row = stories[key] = {
                "story": hit.get("story"),
                "published": hit["published"],
                "entities": set(),
                "sources": set(),
                "items": set(),
                "hits": 0,
            }
        # Rows come newest first: the last one seen is the story's first copy.
        row.update(title=hit["title"], link=hit["link"])
        row["entities"].add(hit["entity"])
        row["sources"].add(hit["source"])
        row["items"].add((hit["source"], hit["title"], hit["link"]))
        row["hits"] += 1
    return [
        {
            **row,
            "entities": sorted(row["entities"]),
            "sources": sorted(row["sources"]),
            "items": len(row["items"]),
        }
        for row in stories.values()
    ]
