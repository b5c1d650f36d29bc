"""Find watched entities and topics in an item's title and text, and say why.

Every alias, context term, exclusion and topic term goes into one Aho-Corasick automaton
over folded text (case and accents ignored), built once per config load. Matching an item
is one pass over each field, so its cost does not grow with the size of the watchlist.
An exact term (`exact_aliases`, `exact_weak_aliases`, `exact_context`) is found the same
way, then kept only if the text found is, in exact form, the term as written. Each alias's
generated variants ("Chat GPT" for ChatGPT, text/variants.py) are keys of their own; a term
with a starred word (`künstlich* Intelligenz`, text/prefix.py) is keyed by its literal
start and checked from there with a pattern.

A candidate counts when it stands on word boundaries: no letter, digit or underscore
touches it, and it is not part of a domain name or an e-mail address (`openai.com`,
`press@microsoft.com`). A weak alias counts only when one of its entity's context terms
occurs in the same item; an `exclude` phrase vetoes any alias occurrence it overlaps.
Text comes in repaired (text/repair.py): offsets point into the text as stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from watcher.config.model import Entity, Topic
from watcher.model import Mention
from watcher.text.clean import make_snippet, mark_snippet
from watcher.text.fold import exact, fold, is_word_char
from watcher.text.prefix import has_prefix, prefix_key, prefix_pattern
from watcher.text.variants import Variant, alias_variants, has_capitals

if TYPE_CHECKING:
    import ahocorasick

ALIAS_ROLES = ("alias", "exact_alias", "weak_alias", "exact_weak_alias")
WEAK_ROLES = frozenset(["weak_alias", "exact_weak_alias"])  # need a context term
_FIELDS = ("title", "text")


@dataclass(frozen=True)
class _Term:
    role: str  # an ALIAS_ROLES value, "context", "exact_context", "exclude" or "topic"
    owner: int  # index of the entity or topic
    term: str  # as written in the config
    exact: str | None = None  # for exact roles: the term in exact form, to compare
    variant: str | None = None  # a generated spelling of an alias ("Chat GPT" for ChatGPT)
    capitals: tuple[bool, ...] | None = None  # for a spaced variant: see has_capitals
    pattern: re.Pattern[str] | None = None  # a term with `*`: matched from its key's start


# Roles that only need to be present somewhere in the item: one occurrence is enough.
_PRESENCE = frozenset(["context", "exact_context", "topic"])


@dataclass(frozen=True)
class _Key:
    """A normalised term in the automaton and every config term that normalises to it."""

    size: int
    left: bool  # must not touch a word character on the left
    right: bool  # ... on the right
    placed: tuple[_Term, ...]  # aliases and exclusions: every occurrence counts
    present: tuple[_Term, ...]  # context and topic terms: the first occurrence is enough


@dataclass(slots=True)
class Occurrence:
    """One bounded occurrence of a config term in a field, with its original offsets."""

    term: _Term
    field: str
    start: int
    end: int
    found: str

    @property
    def order(self) -> tuple[int, int, bool, int]:
        # Title first, then position; at one position a strong, longer alias wins.
        weak = self.term.role in WEAK_ROLES
        return (_FIELDS.index(self.field), self.start, weak, self.start - self.end)


@dataclass
class Analysis:
    """Everything the matcher saw in one item: what counts, what did not and why."""

    mentions: list[Mention] = field(default_factory=list)
    rejected: list[tuple[str, Occurrence, str]] = field(default_factory=list)  # entity, occ, why
    topics: dict[str, list[str]] = field(default_factory=dict)  # topic -> terms as found
    context: dict[str, list[str]] = field(default_factory=dict)  # entity -> terms as found


def _left_bounded(text: str, start: int, left: bool) -> bool:
    """True when nothing touches text[start] on the left: no word character, no domain."""
    if left and start > 0:
        before = text[start - 1]
        if is_word_char(before):
            return False
        if before in ".@" and start > 1 and is_word_char(text[start - 2]):
            return False
    return True


def _right_bounded(text: str, end: int, right: bool) -> bool:
    """True when nothing touches text[end - 1] on the right: no word character, no domain."""
    if right and end < len(text):
        after = text[end]
        if is_word_char(after):
            return False
        if after in ".@" and end + 1 < len(text) and is_word_char(text[end + 1]):
            return False
    return True


# Entity keys feeding the automaton, with the role their terms play.
_ENTITY_ROLES = (
    ("aliases", "alias"),
    ("exact_aliases", "exact_alias"),
    ("weak_aliases", "weak_alias"),
    ("exact_weak_aliases", "exact_weak_alias"),
    ("context", "context"),
    ("exact_context", "exact_context"),
    ("exclude", "exclude"),
)


# Roles whose terms may end a word with `*` (text/prefix.py).
_PREFIX_ROLES = frozenset(["context", "exclude", "topic"])

# Alias keys whose variants are generated (exact aliases are matched only as written).
_VARIANT_ROLES = (("aliases", "alias"), ("weak_aliases", "weak_alias"))


def _build_automaton(terms: dict[str, list[_Term]]) -> ahocorasick.Automaton | None:
    """One automaton over the folded keys; each key knows its bounds and its config terms."""
    if not terms:
        return None
    import ahocorasick  # with the first matcher: a poll where nothing changed needs none

    automaton = ahocorasick.Automaton()
    for key, entries in terms.items():
        placed = tuple(e for e in entries if e.role not in _PRESENCE)
        present = tuple(e for e in entries if e.role in _PRESENCE)
        bounds = (is_word_char(key[0]), is_word_char(key[-1]))
        automaton.add_word(key, _Key(len(key), *bounds, placed, present))
    automaton.make_automaton()
    return automaton


class Matcher:
    """Matches a fixed set of entities and topics; build once per config load."""

    def __init__(self, entities: Iterable[Entity], topics: Iterable[Topic] = ()) -> None:
        self.entities = tuple(entities)
        self.topics = tuple(topics)
        terms: dict[str, list[_Term]] = {}

        def add(role: str, owner: int, term: str, key: str, variant: Variant | None = None) -> None:
            exact_term = exact.term(term) if role.startswith("exact") else None
            entry = _Term(role, owner, term, exact_term)
            if has_prefix(term) and role in _PREFIX_ROLES:
                entry = _Term(role, owner, term, pattern=prefix_pattern(key))
                key = prefix_key(key).rstrip()
            if variant is not None:
                entry = _Term(role, owner, term, None, variant.text, variant.capitals)
            if key and entry not in (bucket := terms.setdefault(key, [])):
                bucket.append(entry)

        aliases: dict[str, int] = {}  # folded alias -> its entity
        for i, e in enumerate(self.entities):
            for attribute, role in _ENTITY_ROLES:
                for term in getattr(e, attribute):
                    add(role, i, term, fold.term(term))
                    if role in ALIAS_ROLES:
                        aliases.setdefault(fold.term(term), i)
        # A spelling shared by two entities, as an alias or a variant, names neither: dropped.
        variants: dict[str, list[tuple[str, int, str, Variant]]] = {}
        for i, e in enumerate(self.entities):
            if not e.variants:
                continue
            for attribute, role in _VARIANT_ROLES:
                for term in getattr(e, attribute):
                    for v in alias_variants(term):
                        variants.setdefault(fold.term(v.text), []).append((role, i, term, v))
        for key, found in variants.items():
            owners = {i for _, i, _, _ in found} | ({aliases[key]} if key in aliases else set())
            if len(owners) == 1:
                for role, i, term, v in found:
                    add(role, i, term, key, v)
        for i, t in enumerate(self.topics):
            for term in t.terms:
                add("topic", i, term, fold.term(term))
        self._automaton = _build_automaton(terms)

    def scan(self, field_name: str, content: str) -> list[Occurrence]:
        """Every bounded occurrence of every term in one field, in original offsets."""
        found: list[Occurrence] = []
        if not content or self._automaton is None:
            return found
        norm = fold(content)
        text = norm.text
        done: set[int] = set()  # keys whose presence terms are all recorded
        present: set[int] = set()  # ids of presence terms already recorded
        for last, key in self._automaton.iter(text):
            end = last + 1
            start = end - key.size
            if (not key.placed and id(key) in done) or not _left_bounded(text, start, key.left):
                continue
            bounded: bool | None = None  # the key's own right bound, for literal terms
            exact_found = None
            for t in (*key.placed, *key.present):
                if id(t) in present:
                    continue
                if t.pattern is not None:
                    m = t.pattern.match(text, start)
                    if m is None or not _right_bounded(text, m.end(), True):
                        continue
                    s, e = norm.span(start, m.end())
                else:
                    if bounded is None:
                        bounded = _right_bounded(text, end, key.right)
                    if not bounded:
                        continue
                    s, e = norm.span(start, end)
                matched = content[s:e]
                if t.exact is not None:
                    exact_found = exact_found or exact.term(matched)
                    if exact_found != t.exact:
                        continue
                if t.capitals is not None and not has_capitals(matched, t.capitals):
                    continue
                found.append(Occurrence(t, field_name, s, e, matched))
                if t.role in _PRESENCE:
                    present.add(id(t))
            if key.present and all(id(t) in present for t in key.present):
                done.add(id(key))
        return found

    def analyse(self, title: str, text: str) -> Analysis:
        """Match one item and keep the reasons: mentions, rejected candidates, context, topics."""
        occurrences = self.scan("title", title) + self.scan("text", text)
        occurrences.sort(key=lambda o: o.order)
        result = Analysis()
        context: dict[int, Occurrence] = {}
        excludes: dict[int, list[Occurrence]] = {}
        topics: dict[int, list[str]] = {}
        for o in occurrences:
            role, owner = o.term.role, o.term.owner
            if role in ("context", "exact_context"):
                context.setdefault(owner, o)
                result.context.setdefault(self.entities[owner].name, []).append(o.found)
            elif role == "exclude":
                excludes.setdefault(owner, []).append(o)
            elif role == "topic":
                topics.setdefault(owner, []).append(o.found)
        topic_names = tuple(self.topics[i].name for i in sorted(topics))
        result.topics = {self.topics[i].name: topics[i] for i in sorted(topics)}
        fields = {"title": title, "text": text}
        mentions: dict[int, Mention] = {}
        for o in occurrences:
            role, owner = o.term.role, o.term.owner
            if role not in ALIAS_ROLES:
                continue
            entity = self.entities[owner].name
            veto = next(
                (
                    x
                    for x in excludes.get(owner, ())
                    if x.field == o.field and x.start < o.end and o.start < x.end
                ),
                None,
            )
            if veto is not None:
                result.rejected.append((entity, o, f"vetoed by exclude {veto.term.term!r}"))
                continue
            confirmed = context.get(owner)
            if role in WEAK_ROLES and confirmed is None:
                result.rejected.append((entity, o, "weak alias without a context term"))
                continue
            if owner in mentions:
                continue
            content = fields[o.field]
            mentions[owner] = Mention(
                entity=entity,
                matched=o.found,
                field=o.field,
                start=o.start,
                end=o.end,
                snippet=_snippet(fields, o),
                topics=topic_names,
                alias=o.term.term,
                kind=role,
                confirmed_by=confirmed.found if role in WEAK_ROLES and confirmed else None,
                marked=mark_snippet(content, o.start, o.end),
            )
        result.mentions = [mentions[i] for i in sorted(mentions)]  # in config order
        return result

    def match(self, title: str, text: str) -> list[Mention]:
        """One Mention per entity found, the first in the title, else the first in the text."""
        return self.analyse(title, text).mentions


def _snippet(fields: dict[str, str], found: Occurrence) -> str:
    """Text around the mention; for a title mention, the start of the text (an alert already
    shows the title, so repeating it would tell the reader nothing new)."""
    if found.field == "title" and fields.get("text"):
        return make_snippet(fields["text"], 0, 0)
    return make_snippet(fields[found.field], found.start, found.end)
