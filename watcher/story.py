"""Stories: the same news from several sources, clustered so a channel gets one alert.

Two items are one story when they share a canonical URL (lower-case host, no fragment, no
tracking parameters), a Commission reference (IP/24/1234, also read from presscorner links
like ``detail/en/ip_24_1234``), or a near-identical normalised title within a time window.
The keys and the comparison are here; looking them up is the store's (store/stories.py).
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from watcher.model import Hit

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
    # A reference has a slash: most texts have none, and the search is a tenth of a
    # millisecond per text (an alternation of prefixes tried at every position).
    found = {_ref(m) for m in _REF.finditer(title)} if "/" in title else set()
    if link:
        found |= {_ref(m) for m in _REF_IN_URL.finditer(link)}
    # A text citing several references is about several things: none of them identifies it.
    in_text = {_ref(m) for m in _REF.finditer(text)} if "/" in text else set()
    if len(in_text) == 1:
        found |= in_text
    return found


def _ref(m: re.Match[str]) -> str:
    return f"{m.group(1).upper()}/{m.group(2)}/{int(m.group(3))}"


def normalise_title(title: str) -> str:
    """Lower case, accents and punctuation removed, whitespace folded."""
    bare = title
    if not title.isascii():  # ASCII has no accents to take off
        decomposed = unicodedata.normalize("NFKD", title)
        bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(_NOT_WORD.sub(" ", bare.lower()).split())


def story_keys(title: str, link: str | None, text: str) -> list[str]:
    """The keys under which an item can meet another copy of its story (strongest first)."""
    keys = []
    url = canonical_url(link)
    if url:
        keys.append("url:" + url)
    keys += sorted("ref:" + r for r in commission_refs(title, link, text))
    title = normalise_title(title)
    if len(title) >= TITLE_MIN_CHARS:
        keys.append("title:" + title)
    return keys


def title_words(key: str) -> tuple[set[str], str]:
    """The words of a title key, and its numbers (which must be equal for two titles to meet)."""
    title = key[len("title:") :]
    return set(title.split()), " ".join(_NUMBER.findall(title))


def probe_words(words: set[str]) -> tuple[int, list[str]]:
    """How many words a similar title must share, and the few to look candidates up by.

    A candidate must share `needed` words, so it shares one of any len(words) - needed + 1
    of them (the longest: likely the rarest).
    """
    needed = math.ceil(TITLE_SIMILARITY * 0.6 * len(words))
    return needed, sorted(words, key=lambda w: (-len(w), w))[: len(words) - needed + 1]


class TitleComparer:
    """Compares one title key with candidates, cheapest test first (difflib caches seq2)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.words, self.numbers = title_words(key)
        self.needed, self.probe = probe_words(self.words)
        self._matcher: difflib.SequenceMatcher[str] | None = None  # made for a first candidate

    def similar(self, other: str) -> bool:
        """True when the title key `other` is near-identical (shared words, then ratios)."""
        candidate = other[len("title:") :]
        if len(self.words & set(candidate.split())) < self.needed:
            return False
        m = self._matcher
        if m is None:
            m = self._matcher = difflib.SequenceMatcher(None, autojunk=False)
            m.set_seq2(self.key[len("title:") :])
        m.set_seq1(candidate)
        return (
            m.real_quick_ratio() >= TITLE_SIMILARITY
            and m.quick_ratio() >= TITLE_SIMILARITY
            and m.ratio() >= TITLE_SIMILARITY
        )


def group_stories(hits: list[Hit], limit: int | None = None) -> list[dict[str, Any]]:
    """Hits (newest first, as Store.query_hits gives them) grouped one row per story."""
    stories: dict[Any, dict[str, Any]] = {}
    for hit in hits:
        key = hit.story or f"hit {hit.id}"  # a hit stored without a story
        row = stories.get(key)
        if row is None:
            if limit and len(stories) >= limit:
                continue
            row = stories[key] = {
                "story": hit.story,
                "published": hit.published,
                "entities": set(),
                "sources": set(),
                "items": set(),
                "hits": 0,
            }
        # Rows come newest first: the last one seen is the story's first copy.
        row.update(title=hit.title, link=hit.link)
        row["entities"].add(hit.entity)
        row["sources"].add(hit.source)
        row["items"].add((hit.source, hit.title, hit.link))
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
