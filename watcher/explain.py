"""Why a hit matched, and what a text would match: the words of `explain` and `match`."""

from __future__ import annotations

import json
from typing import Any

from watcher.errors import WatcherError
from watcher.match import Analysis, Matcher, Mention
from watcher.store import Store

KINDS = {
    "alias": "alias (case and accents ignored)",
    "exact_alias": "exact alias (case and accents count)",
    "weak_alias": "weak alias (needs a context term)",
}


class HitNotFoundError(WatcherError):
    """No hit has the id the user gave."""


def describe_mention(m: Mention) -> list[str]:
    """Lines saying where a mention is and which config term made it count."""
    lines = [
        f"{m.entity}: matched {m.matched!r} in the {m.field}, characters {m.start}-{m.end}",
        f"  by {KINDS.get(m.kind, m.kind)} {m.alias!r}",
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


def explain_hit(store: Store, matcher: Matcher, hit_id: int) -> list[str]:
    """Lines for `regwatch explain`: the stored evidence of a hit and today's verdict."""
    hit = store.hit_details(hit_id)
    if hit is None:
        raise HitNotFoundError(
            f"no hit with id {hit_id} in {store.path}",
            hint="`regwatch hits` lists hit ids in its first column",
        )
    lines = [
        f"hit {hit['id']}: {hit['entity']}",
        f"item: {hit['title']}",
        f"source: {hit['source']}; published {hit['published'] or hit['discovered']}",
        f"link: {hit['link'] or '(none)'}",
        f"matched {hit['matched']!r} in the {hit['field']}, characters {hit['start']}-{hit['end']}",
    ]
    if hit.get("alias"):
        lines.append(f"  by {KINDS.get(hit['kind'], hit['kind'])} {hit['alias']!r}")
    if hit.get("confirmed_by"):
        lines.append(f"  confirmed by context term {hit['confirmed_by']!r}")
    lines.append(f"  {hit.get('marked') or _mark(hit)}")
    topics = json.loads(hit["topics"] or "[]")
    lines.append("topics: " + (", ".join(topics) if topics else "none"))
    lines.append(
        "found "
        + hit["created"]
        + (" by `regwatch rematch`" if hit.get("retroactive") else " when polled")
        + ("; alerted" if hit["alerted"] else "; not alerted")
    )
    found = {m.entity for m in matcher.match(hit["title"], hit["text"])}
    if hit["entity"] in found:
        lines.append("current config: still matches")
    else:
        lines.append(
            "current config: no longer matches (run `regwatch match` on the text to see why)"
        )
    return lines


def _mark(hit: dict[str, Any]) -> str:
    """A marked snippet for hits stored before marks were kept."""
    from watcher.text import mark_snippet

    content = hit["title"] if hit["field"] == "title" else hit["text"]
    return mark_snippet(content, hit["start"], hit["end"])
