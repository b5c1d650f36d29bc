"""Digests: one message per channel and period listing its pending hits, grouped by entity.

A digest channel's hits wait as 'pending' deliveries. When a slot of its schedule has passed
(hourly, "daily 08:00", "weekly mon 08:00", in the channel's timezone), `queue_digests`
turns them into one queued message in one transaction: the deliveries become 'digested',
pointing at the message, and the outbox sends it like any other (so a crash neither loses
nor duplicates a hit, beyond the one message in flight). An empty digest sends nothing.
"""

from __future__ import annotations

import html
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from watcher.alert import MARKDOWN_ALWAYS, Message, escape_value, scheme_of, title_limit, trim
from watcher.config import Channel
from watcher.outbox import enqueue_message, iso
from watcher.store import Store
from watcher.story import story_copies

log = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(
    r"^(?:(?P<immediate>immediate)|(?P<hourly>hourly)|daily (?P<dh>\d{1,2}):(?P<dm>\d{2})|"
    r"weekly (?P<day>[a-z]{3}) (?P<wh>\d{1,2}):(?P<wm>\d{2}))$"
)


@dataclass(frozen=True)
class Schedule:
    """When a digest goes out: kind "immediate", "hourly", "daily" or "weekly"."""

    kind: str
    hour: int = 0
    minute: int = 0
    weekday: int = 0  # 0 = Monday


def parse_schedule(text: str) -> Schedule:
    """The schedule in `text`; ValueError naming the accepted forms when it is not one."""
    m = _SPEC.match(" ".join(text.lower().split()))
    forms = '"immediate", "hourly", "daily 08:00" or "weekly mon 08:00"'
    if not m:
        raise ValueError(f"{text!r} is not a digest schedule; write {forms}")
    if m["immediate"]:
        return Schedule("immediate")
    if m["hourly"]:
        return Schedule("hourly")
    if m["day"] and m["day"] not in DAYS:
        raise ValueError(f"{m['day']!r} is not a day; use one of {', '.join(DAYS)}")
    hour, minute = int(m["dh"] or m["wh"]), int(m["dm"] or m["wm"])
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r}: {hour:02d}:{minute:02d} is not a time of day")
    if m["day"]:
        return Schedule("weekly", hour, minute, DAYS.index(m["day"]))
    return Schedule("daily", hour, minute)


def zone(name: str | None) -> tzinfo:
    """The IANA time zone `name`, or the system's when None; ValueError if unknown."""
    if name is None:
        return system_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def system_zone() -> tzinfo:
    """The machine's time zone: $TZ, else /etc/localtime's zone, else its current offset."""
    for name in (os.environ.get("TZ", "").lstrip(":"), _localtime_name()):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                pass
    return datetime.now().astimezone().tzinfo or ZoneInfo("UTC")


def _localtime_name() -> str:
    try:
        target = os.path.realpath("/etc/localtime")
    except OSError:
        return ""
    marker = "/zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else ""


def last_slot(schedule: Schedule, tz: tzinfo, now: datetime) -> datetime | None:
    """The latest time at or before `now` when this schedule fires (None: immediate)."""
    local = now.astimezone(tz)
    if schedule.kind == "immediate":
        return None
    if schedule.kind == "hourly":
        return local.replace(minute=0, second=0, microsecond=0)
    # The slot is a wall-clock time in the zone, so 08:00 stays 08:00 across DST changes.
    at = time(schedule.hour, schedule.minute)
    day = local.date()
    step = timedelta(days=1)
    if schedule.kind == "weekly":
        day -= timedelta(days=(local.weekday() - schedule.weekday) % 7)
        step = timedelta(days=7)
    slot = datetime.combine(day, at, tzinfo=tz)
    if slot > local:
        slot = datetime.combine(day - step, at, tzinfo=tz)
    return slot


def queue_digests(store: Store, channels: tuple[Channel, ...], now: datetime) -> list[int]:
    """Queue the digest of every channel whose slot has passed; returns the message ids.

    A channel seen for the first time starts at its current slot (its first digest is the
    next one). The slot is recorded in the same transaction as the digest.
    """
    queued = []
    for channel in channels:
        if channel.digest == "immediate":
            continue
        slot = last_slot(parse_schedule(channel.digest), zone(channel.timezone), now)
        if slot is None:
            continue
        slot_at = iso(slot)
        row = store.db.execute(
            "SELECT last_slot FROM digest_state WHERE channel = ?", [channel.name]
        ).fetchone()
        if row and row[0] >= slot_at:
            continue
        with store.writing("a digest"):
            message_id = None
            if row:
                message_id = _queue_digest(store, channel, slot, iso(now))
            store.db.execute(
                "INSERT OR REPLACE INTO digest_state (channel, last_slot) VALUES (?, ?)",
                [channel.name, slot_at],
            )
        if message_id:
            queued.append(message_id)
            log.info("channel %s: digest #%d queued", channel.name, message_id)
    return queued


def _queue_digest(store: Store, channel: Channel, slot: datetime, at: str) -> int | None:
    rows = list(
        store.db.query(
            """SELECT d.id AS delivery_id, h.id AS hit_id, h.entity, h.story_id AS story,
                      i.title, i.link, i.source, COALESCE(i.published, i.discovered) AS published
               FROM deliveries d JOIN hits h ON h.id = d.hit_id JOIN items i ON i.id = h.item_id
               WHERE d.channel = ? AND d.status = 'pending'
               ORDER BY published DESC, h.id DESC""",
            [channel.name],
        )
    )
    if not rows:
        return None
    for row in rows:
        row["copies"] = [
            c for c in story_copies(store.db, row["story"]) if c["link"] != row["link"]
        ]
    placeholder = Message("", "", channel.format)
    message_id = enqueue_message(
        store.db, channel.name, "digest", f"digest {slot.isoformat()}", placeholder, at
    )
    message = render_digest(rows, channel, slot, message_id)
    store.db.execute(
        "UPDATE messages SET title = ?, body = ?, body_format = ? WHERE id = ?",
        [message.title, message.body, message.body_format, message_id],
    )
    ids = [r["delivery_id"] for r in rows]
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        store.db.execute(
            f"UPDATE deliveries SET status = 'digested', message_id = ?, updated = ? "
            f"WHERE id IN ({','.join('?' * len(chunk))})",
            [message_id, at, *chunk],
        )
    return message_id


def render_digest(
    rows: list[dict[str, Any]], channel: Channel, slot: datetime, message_id: int
) -> Message:
    """One digest: hits grouped by entity (largest group first), newest first, with counts."""
    scheme = scheme_of(channel.url)
    fmt = channel.format
    if fmt == "text" and scheme in MARKDOWN_ALWAYS:
        fmt = "markdown"
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["entity"], []).append(row)
    order = sorted(groups, key=lambda e: (-len(groups[e]), e))
    counts = ", ".join(f"{e} {len(groups[e])}" for e in order)
    title = trim(
        f"[regwatch] digest: {len(rows)} hit{'s' * (len(rows) != 1)} ({counts})",
        title_limit(channel),
    )

    def esc(text: str | None, link: bool = False) -> str:
        return escape_value(text or "", fmt, scheme, link=link)

    def line(row: dict[str, Any]) -> str:
        date = (row["published"] or "")[:10]
        also = ", ".join(sorted({c["source"] for c in row["copies"]} - {row["source"]}))
        extra = f"; also in {esc(also)}" if also else ""
        ref = f"hit #{row['hit_id']}"
        if fmt == "html":
            link = esc(row["link"], link=True)
            title = (
                f'<a href="{link}">{esc(row["title"])}</a>' if row["link"] else esc(row["title"])
            )
            return f"<li>{date} {title} ({esc(row['source'])}{extra}) <small>{ref}</small></li>"
        if fmt == "markdown":
            link = f" {esc(row['link'], link=True)}" if row["link"] else ""
            return f"- {date} **{esc(row['title'])}** ({esc(row['source'])}{extra}){link} _{ref}_"
        link = f"\n  {row['link']}" if row["link"] else ""
        return f"- {date} {esc(row['title'])} ({esc(row['source'])}{extra}) [{ref}]{link}"

    period = f"digest #{message_id} for {slot.strftime('%Y-%m-%d %H:%M %Z')}"
    parts = []
    for entity in order:
        heading = f"{esc(entity)} ({len(groups[entity])})"
        items = [line(r) for r in groups[entity]]
        if fmt == "html":
            parts.append(f"<h3>{heading}</h3><ul>{''.join(items)}</ul>")
        elif fmt == "markdown":
            parts.append(f"**{heading}**\n" + "\n".join(items))
        else:
            parts.append(heading + "\n" + "\n".join(items))
    footer = f"regwatch {period}"
    if fmt == "html":
        body = "".join(parts) + f"<small>{html.escape(footer)}</small>"
    else:
        body = "\n\n".join(parts) + f"\n\n{footer}"
    return Message(title, body, fmt)
