"""Why a hit matched, and what a text would match: the words of `explain` and `match`."""

from __future__ import annotations

from watcher.errors import WatcherError
from watcher.model import Hit, Mention
from watcher.pipeline.match import Analysis, Matcher
from watcher.text.clean import mark_snippet
from watcher.text.fold import fold

KINDS = {
    "alias": "alias (case and accents ignored)",
    "exact_alias": "exact alias (case and accents count)",
    "weak_alias": "weak alias (needs a context term)",
    "exact_weak_alias": "exact weak alias (as written, needs a context term)",
}


class HitNotFoundError(WatcherError):
    """No hit has the id the user gave."""


def variant_found(m: Mention) -> str | None:
    """The generated spelling of the alias that matched ("Chat-GPT" for ChatGPT), if any."""
    if not m.alias or m.kind not in ("alias", "weak_alias"):
        return None
    if fold.term(m.matched) == fold.term(m.alias):
        return None  # the alias itself, in another case or with a soft hyphen
    return " ".join(m.matched.split())


def describe_alias(m: Mention) -> str:
    """The line saying which configured alias matched, and through which variant."""
    line = f"  by {KINDS.get(m.kind, m.kind)} {m.alias!r}"
    variant = variant_found(m)
    return line + (f" as its variant {variant!r}" if variant else "")


def describe_mention(m: Mention) -> list[str]:
    """Lines saying where a mention is and which config term made it count."""
    lines = [
        f"{m.entity}: matched {m.matched!r} in the {m.field}, characters {m.start}-{m.end}",
        describe_alias(m),
    ]
    if m.confirmed_by:
        lines.append(f"  confirmed by context term {m.confirmed_by!r}")
    lines.append(f"  {m.marked or m.snippet}")
    return lines


def describe_analysis(analysis: Analysis) -> list[str]:
    """Lines for `regwatch match`: mentions, candidates that did not count, context, topics."""
    lines: list[str] = []
    for m in analysis.mentions:
        lines += describe_mention(m)
    if not analysis.mentions:
        lines.append("no entity matched")
    matched = {m.entity for m in analysis.mentions}
    for entity, occ, why in analysis.rejected:
        if entity not in matched:
            lines.append(
                f"not counted: {entity} {occ.found!r} in the {occ.field} "
                f"(characters {occ.start}-{occ.end}): {why}"
            )
    for entity, terms in analysis.context.items():
        lines.append(f"context for {entity}: " + ", ".join(repr(t) for t in terms))
    if analysis.topics:
        for name, terms in analysis.topics.items():
            lines.append(f"topic {name}: " + ", ".join(repr(t) for t in terms))
    else:
        lines.append("topics: none")
    return lines


def explain_hit(hit: Hit, text: str, matcher: Matcher) -> list[str]:
    """Lines for `regwatch explain`: the stored evidence of a hit and today's verdict.

    `text` is the item's stored text, matched again with the current config.
    """
    m = hit.mention
    lines = [
        f"hit {hit.id}: {m.entity}",
        f"item: {hit.title}",
        f"source: {hit.source}; published {hit.published}",
        f"link: {hit.link or '(none)'}",
        f"matched {m.matched!r} in the {m.field}, characters {m.start}-{m.end}",
    ]
    if m.alias:
        lines.append(describe_alias(m))
    if m.confirmed_by:
        lines.append(f"  confirmed by context term {m.confirmed_by!r}")
    content = hit.title if m.field == "title" else text
    lines.append(f"  {m.marked or mark_snippet(content, m.start, m.end)}")
    lines.append("topics: " + (", ".join(m.topics) if m.topics else "none"))
    lines.append(
        "found "
        + hit.created
        + (" by `regwatch rematch`" if hit.retroactive else " when polled")
        + ("; alerted" if hit.alerted else "; not alerted")
    )
    found = {found.entity for found in matcher.match(hit.title, text)}
    if m.entity in found:
        lines.append("current config: still matches")
    else:
        lines.append(
            "current config: no longer matches (run `regwatch match` on the text to see why)"
        )
    return lines
