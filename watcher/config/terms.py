"""Checks on the terms of entities and topics: one entity per alias, `*` where it may be."""

from __future__ import annotations

from watcher.config.model import Entity
from watcher.config.schema import Checker
from watcher.text.fold import fold
from watcher.text.prefix import prefix_problem

# Keys whose terms may end a word with `*` (watcher/text/prefix.py); the others may not.
PREFIX_KEYS = ("context", "exclude", "terms")


def check_prefixes(lists: dict[str, tuple[str, ...]], at: str, check: Checker) -> None:
    """A `*` only ends a word of a context, exclude or topic term, after 4 letters or more."""
    for key, terms in lists.items():
        for j, term in enumerate(terms):
            if "*" not in term:
                continue
            where = f"{at}{key}[{j}]"
            if key not in PREFIX_KEYS:
                raise check.fail(
                    where,
                    f"{term!r}: '*' is only for context, exclude and topic terms",
                    hint="list each form as written; variants already cover spacing and "
                    "hyphens ('Chat GPT', 'Chat-GPT')"
                    if "alias" in key
                    else "move the term to context = [...], which ignores case",
                )
            problem = prefix_problem(term)
            if problem:
                raise check.fail(
                    where, problem, hint='end a word of 4 letters or more: "künstlich* Intelligenz"'
                )


def check_alias_overlap(entities: list[Entity], check: Checker) -> None:
    """An alias (case and accents ignored) may belong to one entity, and only once."""
    owners: dict[str, tuple[int, str, str]] = {}  # folded alias -> entity index, key, path
    for i, e in enumerate(entities):
        for key in ("aliases", "exact_aliases", "weak_aliases", "exact_weak_aliases"):
            for j, alias in enumerate(getattr(e, key)):
                where = f"entities[{i}].{key}[{j}]"
                first = owners.setdefault(fold.term(alias), (i, key, where))
                if first[:2] == (i, key):
                    continue  # new, or the same alias twice in one list: harmless
                raise check.fail(
                    where,
                    f"alias {alias!r} is also an alias of {entities[first[0]].name!r} ({first[2]})",
                    hint="an alias must name one entity: remove it from one of them",
                )
