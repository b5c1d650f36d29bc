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
from datetime import datetime

from watcher.alert.format import Style, hit_url, trim
from watcher.alert.send import title_limit
from watcher.config.model import Channel
from watcher.model import Hit, Message, StoryCopy
from watcher.store import Store
from watcher.timeparse import iso, last_slot, zone

log = logging.getLogger(__name__)


def queue_digests(
    store: Store, channels: tuple[Channel, ...], now: datetime, *, base_url: str | None = None
) -> list[int]:
    """Queue the digest of every channel whose slot has passed; returns the message ids.

    A channel seen for the first time starts at its current slot (its first digest is the
    next one). The slot is recorded in the same transaction as the digest, and only if no
    other daemon recorded it first: a digest is queued once per channel and period.
    """
    queued = []
    for channel in channels:
        slot = last_slot(channel.schedule, zone(channel.timezone), now)
        if slot is None:
            continue  # an immediate channel
        slot_at = iso(slot)
        last = store.digest_slot(channel.name)
        if last and last >= slot_at:
            continue
        with store.writing("a digest"):
            # Compare-and-set: of several daemons passing the slot, one queues the digest.
            advanced = store.advance_digest_slot(channel.name, slot_at)
            message_id = (
                _queue_digest(store, channel, slot, iso(now), base_url) if advanced else None
            )
        if message_id:
            queued.append(message_id)
            log.info("channel %s: digest #%d queued", channel.name, message_id)
    return queued


def _queue_digest(
    store: Store, channel: Channel, slot: datetime, at: str, base_url: str | None
) -> int | None:
    pending = store.digest_hits(channel.name)
    if not pending:
        return None
    hits = [hit for _, hit in pending]
    copies = {hit.id: store.story_copies(hit.story) for hit in hits}
    placeholder = Message("", "", channel.format)
    message_id = store.enqueue_message(
        channel.name, "digest", f"digest {slot.isoformat()}", placeholder, at
    )
    message = render_digest(hits, copies, channel, slot, message_id, base_url=base_url)
    store.set_message(message_id, message)
    store.mark_digested([delivery for delivery, _ in pending], message_id, at)
    return message_id


def render_digest(
    hits: list[Hit],
    copies: dict[int, list[StoryCopy]],
    channel: Channel,
    slot: datetime,
    message_id: int,
    *,
    base_url: str | None = None,
) -> Message:
    """One digest: hits grouped by entity (largest group first), newest first, with counts.

    A hit nobody has reviewed yet is marked NEW; one already reviewed (in the web view,
    say, before the digest went out) shows its status and reviewer instead. With
    `base_url` each hit links to its page in the web view.
    """
    style = Style.of(channel)
    fmt = style.fmt
    groups: dict[str, list[Hit]] = {}
    for hit in hits:
        groups.setdefault(hit.entity, []).append(hit)
    order = sorted(groups, key=lambda e: (-len(groups[e]), e))
    counts = ", ".join(f"{e} {len(groups[e])}" for e in order)
    fresh = sum(h.status == "new" for h in hits)
    unread = f", {fresh} new" if fresh != len(hits) else ""
    title = trim(
        f"[regwatch] digest: {len(hits)} hit{'s' * (len(hits) != 1)}{unread} ({counts})",
        title_limit(channel),
    )
    esc = style.escape

    def line(hit: Hit) -> str:
        date = (hit.published or "")[:10]
        others = [c for c in copies.get(hit.id, []) if c.link != hit.link]
        also = ", ".join(sorted({c.source for c in others} - {hit.source}))
        extra = f"; also in {esc(also)}" if also else ""
        page = hit_url(base_url, hit.id)
        ref = f"hit #{hit.id}"
        state = "NEW" if hit.status == "new" else f"{hit.status} by {esc(hit.reviewed_by or '?')}"
        if fmt == "html":
            link = esc(hit.link, link=True)
            name = f'<a href="{link}">{esc(hit.title)}</a>' if hit.link else esc(hit.title)
            ref = f'<a href="{esc(page, link=True)}">{ref}</a>' if page else ref
            return (
                f"<li><b>{state}</b> {date} {name} ({esc(hit.source)}{extra}) "
                f"<small>{ref}</small></li>"
            )
        if fmt == "markdown":
            link = f" {esc(hit.link, link=True)}" if hit.link else ""
            review = f" review: {esc(page, link=True)}" if page else ""
            return (
                f"- **{state}** {date} **{esc(hit.title)}** ({esc(hit.source)}{extra}){link} "
                f"_{ref}_{review}"
            )
        link = f"\n  {hit.link}" if hit.link else ""
        review = f"\n  review: {page}" if page else ""
        return f"- {state} {date} {esc(hit.title)} ({esc(hit.source)}{extra}) [{ref}]{link}{review}"

    period = f"digest #{message_id} for {slot.strftime('%Y-%m-%d %H:%M %Z')}"
    parts = []
    for entity in order:
        heading = f"{esc(entity)} ({len(groups[entity])})"
        items = [line(h) for h in groups[entity]]
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
