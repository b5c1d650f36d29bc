"""Hit counts over time, by entity, source or topic, with a terminal chart."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

GROUPS = {
    "entity": ("h.entity", ""),
    "source": ("i.source", ""),
    # topics is a JSON array per hit: one row per (hit, topic)
    "topic": ("t.value", ", json_each(h.topics) t"),
}
EVERY = ("day", "week", "month")
SPARKS = "▁▂▃▄▅▆▇█"
# The date a hit counts at: its item's publication, else when regwatch found it.
WHEN = "substr(COALESCE(i.published, h.created), 1, 10)"


def period_of(day: date, every: str) -> str:
    """The label of the period holding `day`: 2024-02-26, week of 2024-02-26 (Monday), 2024-02."""
    if every == "month":
        return day.strftime("%Y-%m")
    if every == "week":
        day -= timedelta(days=day.weekday())
    return day.isoformat()


def periods(start: date, end: date, every: str) -> list[str]:
    """Every period label from `start` to `end`, in order, with none missing."""
    out: list[str] = []
    day = start
    while day <= end:
        label = period_of(day, every)
        if not out or out[-1] != label:
            out.append(label)
        day += timedelta(days=1)
    return out


def hit_counts(
    db: Any, *, since: str, by: str = "entity", every: str = "week", until: str | None = None
) -> list[dict[str, Any]]:
    """Counts as tidy rows {period, <by>, hits}, every period present for every group.

    `db` is anything with `execute(sql, args)`: a Store's sqlite-utils Database, or the
    read-only sqlite3 connection the web view runs queries on.
    """
    if by not in GROUPS:
        raise ValueError(f"by must be one of {', '.join(GROUPS)}")
    if every not in EVERY:
        raise ValueError(f"every must be one of {', '.join(EVERY)}")
    column, join = GROUPS[by]
    start = datetime.fromisoformat(since).date()
    end = datetime.fromisoformat(until).date() if until else datetime.now(UTC).date()
    counts: dict[tuple[str, str], int] = {}
    groups: set[str] = set()
    rows = db.execute(
        f"""SELECT {column} AS grp, {WHEN} AS day, COUNT(*) FROM hits h
            JOIN items i ON i.id = h.item_id{join}
            WHERE {WHEN} >= ? AND {WHEN} <= ? GROUP BY grp, day""",
        [start.isoformat(), end.isoformat()],
    ).fetchall()
    for grp, day, n in rows:
        try:
            label = period_of(date.fromisoformat(day), every)
        except (TypeError, ValueError):
            continue  # an item date regwatch could not read: left out rather than misfiled
        groups.add(str(grp))
        counts[(label, str(grp))] = counts.get((label, str(grp)), 0) + n
    labels = periods(start, end, every)
    return [
        {"period": p, by: g, "hits": counts.get((p, g), 0)}
        for p in labels
        for g in sorted(groups, key=str.casefold)
    ]


def pivot(rows: list[dict[str, Any]], by: str) -> tuple[list[str], dict[str, list[int]]]:
    """Period labels and, per group, its counts in period order."""
    labels = list(dict.fromkeys(r["period"] for r in rows))
    series: dict[str, list[int]] = {}
    for r in rows:
        series.setdefault(r[by], []).append(r["hits"])
    return labels, series


def period_table(rows: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """One row per period, one column per group (for the terminal table)."""
    labels, series = pivot(rows, by)
    return [
        {"period": p, **{g: counts[i] for g, counts in series.items()}}
        for i, p in enumerate(labels)
    ]


def sparkline(counts: list[int]) -> str:
    """One block character per period, scaled to the largest count; blank for zero."""
    top = max(counts, default=0)
    if not top:
        return " " * len(counts)
    return "".join(" " if n == 0 else SPARKS[(n * len(SPARKS) - 1) // top] for n in counts)


def chart(rows: list[dict[str, Any]], by: str, width: int = 30) -> str:
    """One line per group: name, sparkline over the periods, total and a bar of the total."""
    labels, series = pivot(rows, by)
    if not series:
        return ""
    totals = {g: sum(c) for g, c in series.items()}
    most = max(totals.values()) or 1
    name_w = max(len(g) for g in series)
    lines = [f"{'':<{name_w}}  {labels[0]} … {labels[-1]}" if labels else ""]
    for g, counts in sorted(series.items(), key=lambda kv: -totals[kv[0]]):
        bar = "█" * max(1 if totals[g] else 0, round(width * totals[g] / most))
        lines.append(f"{g:<{name_w}}  {sparkline(counts)}  {totals[g]:>5}  {bar}")
    return "\n".join(lines)
