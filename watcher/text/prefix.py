"""Context, exclude and topic terms ending a word with `*`: a prefix for inflected forms.

German and the Romance languages inflect: `künstlich* Intelligenz` matches "künstliche",
"künstlichen" and "Künstlicher Intelligenz"; `intelligenz* artificial*` the Italian
singular and plural. A starred word matches any word that begins with its prefix (on the
folded text: case and accents ignored), still on word boundaries; the other words of the
term match as written. The prefix needs four letters or more: shorter ones ("KI*", "art*")
would match too many words.
"""

from __future__ import annotations

import re

MIN_PREFIX = 4


def prefix_problem(term: str) -> str | None:
    """What is wrong with the `*` of a term, or None when it is well placed (or absent)."""
    for word in term.split():
        if "*" not in word:
            continue
        stem = word[:-1]
        if not word.endswith("*") or "*" in stem:
            return f"{term!r}: '*' may only end a word (künstlich* Intelligenz)"
        if sum(ch.isalnum() for ch in stem) < MIN_PREFIX:
            return f"{term!r}: the prefix {stem!r} before '*' needs at least {MIN_PREFIX} letters"
    return None


def has_prefix(term: str) -> bool:
    """True when a term has a starred word."""
    return "*" in term


def prefix_key(folded: str) -> str:
    """The literal start of a folded starred term: what the automaton looks for."""
    return folded.split("*", 1)[0]


def prefix_pattern(folded: str) -> re.Pattern[str]:
    """A pattern matching the folded term at a position: starred words take any ending."""
    words = [
        re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w) for w in folded.split()
    ]
    return re.compile(" ".join(words))
