"""Print rows as a table fitted to the terminal, JSON, NDJSON, CSV or an Atom feed; trend charts."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from watcher.model import web_link
from watcher.text.clean import MARK

FORMATS = ("table", "json", "csv")
# Formats for hits only: one JSON object per line (for piping), and an Atom feed.
HIT_FORMATS = (*FORMATS, "ndjson", "atom")


def render(
    rows: list[dict[str, Any]],
    fmt: str,
    columns: Sequence[str] | None = None,
    *,
    title: str = "regwatch hits",
) -> str:
    """`rows` in the given format; `columns` picks and orders the table/CSV columns.

    `title` names the Atom feed; atom expects hit rows (id, entity, title, link, ...).
    """
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2)
    if fmt == "ndjson":
        return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
    if fmt == "atom":
        return atom_feed(rows, title)
    cols = list(columns or (rows[0].keys() if rows else []))
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    return table([_marked(r) for r in rows], cols)


def find_mention(snippet: str, matched: str) -> tuple[int, int] | None:
    """Where the matched alias sits in a hit's snippet (offsets), ignoring case and spacing."""
    if not snippet or not matched:
        return None
    words = [re.escape(w) for w in matched.split()]
    m = re.search(r"\s+".join(words), snippet, re.IGNORECASE)
    return (m.start(), m.end()) if m else None


def _marked(row: dict[str, Any]) -> dict[str, Any]:
    # The hit's snippet with its mention between MARKs, so the table shows what matched.
    if row.get("marked"):  # marked by the matcher from the mention's exact offsets
        return {**row, "snippet": row["marked"]}
    snippet, matched = row.get("snippet"), row.get("matched")
    if not isinstance(snippet, str) or not isinstance(matched, str) or MARK in snippet:
        return row
    span = find_mention(snippet, matched)
    if span is None:
        return row
    a, b = span
    return {**row, "snippet": f"{snippet[:a]}{MARK}{snippet[a:b]}{MARK}{snippet[b:]}"}


_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d):\d\d(?:\.\d+)?(?:Z|[+-]00:00)$")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = " ".join(str(value).split())
    # UTC timestamps as "2024-02-27 12:00": the seconds and offset only take width.
    m = _TIMESTAMP.match(text)
    return f"{m[1]} {m[2]}" if m else text


def table(rows: list[dict[str, Any]], cols: list[str], width: int | None = None) -> str:
    """A plain-text table; the widest columns are trimmed so it fits `width` (the terminal)."""
    if not rows:
        return "(no rows)"
    width = width or shutil.get_terminal_size((120, 24)).columns
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    budget = width - 2 * (len(cols) - 1)
    while sum(widths) > budget and max(widths) > 8:
        widths[widths.index(max(widths))] -= 1

    def fit(text: str, w: int) -> str:
        if len(text) <= w:
            return text
        a = text.find(MARK)
        b = text.find(MARK, a + len(MARK)) + len(MARK) if a >= 0 else -1
        if a >= 0 and b > a and b > w - 1:  # keep the marked words in view: cut the start
            room = max(w - 2 - (b - a), 0)
            text = "…" + text[max(1, a - room // 3) :]
            if len(text) <= w:
                return text
        return text[: max(w - 1, 0)] + "…"

    lines = ["  ".join(fit(c, w).ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append(
            "  ".join(fit(c, w).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )
    return "\n".join(lines)


# Characters XML 1.0 forbids; feed text may carry them and they would break the feed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
ATOM_NS = "http://www.w3.org/2005/Atom"


def _xml_text(value: Any) -> str:
    return _NOT_XML.sub("", "" if value is None else str(value))


def _rfc3339(value: Any) -> str:
    """An Atom date from a stored timestamp; naive ones are taken as UTC."""
    try:
        when = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        when = datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def atom_feed(rows: list[dict[str, Any]], title: str = "regwatch hits") -> str:
    """An Atom 1.0 feed with one entry per hit (text escaped, unsafe links left out)."""
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: Any = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            el.text = _xml_text(text)
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "title", title)
    sub(feed, "id", "urn:regwatch:" + re.sub(r"[^A-Za-z0-9._-]+", "-", title.lower()))
    dates = [_rfc3339(r.get("published") or r.get("created")) for r in rows]
    sub(feed, "updated", max(dates) if dates else _rfc3339(None))
    sub(sub(feed, "author"), "name", "regwatch")
    sub(feed, "generator", "regwatch")
    for row, updated in zip(rows, dates, strict=True):
        entry = sub(feed, "entry")
        sub(entry, "id", f"urn:regwatch:hit:{row.get('id')}")
        sub(entry, "title", f"{row.get('entity')}: {row.get('title')}")
        link = web_link(row.get("link"))
        if link:
            sub(entry, "link", href=_xml_text(link))
        sub(entry, "updated", updated)
        sub(sub(entry, "author"), "name", row.get("source") or "regwatch")
        sub(entry, "category", term=_xml_text(row.get("entity")))
        for topic in parse_topics(row.get("topics")):
            sub(entry, "category", term=_xml_text(topic), label=f"topic: {_xml_text(topic)}")
        sub(entry, "summary", row.get("match") or row.get("snippet") or "", type="text")
    body = ET.tostring(feed, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body


def parse_topics(value: Any) -> list[str]:
    """Topic names from a hit's topics column (a JSON array); [] when unreadable."""
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        parsed = json.loads(value or "[]")
    except (TypeError, ValueError):
        return []
    return [str(v) for v in parsed] if isinstance(parsed, list) else []


# -- trends: hit counts over time as tables and sparklines -------------------------------------

SPARKS = "▁▂▃▄▅▆▇█"


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
