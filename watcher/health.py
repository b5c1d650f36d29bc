"""Source health: one alert when a source starts failing or goes stale, one when it recovers.

A source is "failing" after delivery.health_failures consecutive failed polls, "stale" when
it has produced no new item for longer than its `stale_after`, "ok" otherwise. Only a change
of state is alerted (to channels with `health = true`), never each failed poll. The new state
and its messages are written in one transaction, so a crash re-evaluates rather than loses.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from watcher.alert import Message, escape_value, scheme_of
from watcher.config import Channel, Config, Source
from watcher.outbox import enqueue_message, iso
from watcher.store import Store

log = logging.getLogger(__name__)


def source_health(store: Store, source: Source, failures_limit: int, now: datetime) -> str:
    """The health of a source from its stored poll state: "ok", "failing" or "stale"."""
    row = store.db.execute(
        "SELECT failures, first_poll_at FROM sources WHERE name = ?", [source.name]
    ).fetchone()
    if row is None:
        return "ok"
    failures, first_poll = row
    if failures >= failures_limit:
        return "failing"
    if source.stale_after:
        newest = store.db.execute(
            "SELECT MAX(discovered) FROM items WHERE source = ?", [source.name]
        ).fetchone()[0]
        since = newest or first_poll
        if since and datetime.fromisoformat(since) < now - timedelta(seconds=source.stale_after):
            return "stale"
    return "ok"


def check_health(config: Config, store: Store, source: Source, now: datetime) -> str | None:
    """Re-evaluate one source after a poll; on a change, queue alerts. Returns the new state."""
    state = source_health(store, source, config.delivery.health_failures, now)
    row = store.db.execute(
        "SELECT health, last_error FROM sources WHERE name = ?", [source.name]
    ).fetchone()
    if row is None or row[0] == state:
        return None
    previous, error = row
    at = iso(now)
    with store.writing("a source's health"):
        store.db.execute(
            "UPDATE sources SET health = ?, health_since = ? WHERE name = ?",
            [state, at, source.name],
        )
        for channel in config.channels:
            if channel.health:
                message = health_message(config, channel, source, (previous, state), error, at)
                enqueue_message(
                    store.db, channel.name, "health", f"{source.name}: {state}", message, at
                )
    log.warning("source %s: health %s -> %s", source.name, previous, state)
    return state


def health_message(
    config: Config,
    channel: Channel,
    source: Source,
    change: tuple[str, str],
    error: str | None,
    at: str,
) -> Message:
    """The alert for a change of a source's health (`change`: previous and new state)."""
    previous, state = change
    fmt, scheme = channel.format, scheme_of(channel.url)
    if state == "failing":
        what = f"is failing ({config.delivery.health_failures} polls in a row)"
        detail = f"Last error: {error or 'unknown'}"
    elif state == "stale":
        hours = (source.stale_after or 0) / 3600
        what = f"is stale (no new item for more than {hours:g} h)"
        detail = "The feed answers but publishes nothing new; check that its URL still works."
    else:
        what = f"has recovered (was {previous})"
        detail = "Polls succeed again."
    name = escape_value(source.name, fmt, scheme)
    title = f"[regwatch] source {source.name} {what}"
    lines = [
        f"Source {name} {what}.",
        escape_value(detail, fmt, scheme),
        f"URL: {escape_value(source.url, fmt, scheme, link=True)}",
        f"regwatch health alert: {escape_value(source.name, fmt, scheme)} {state} at {at}",
    ]
    if fmt == "html":
        return Message(title, "<br>".join(lines), "html")
    return Message(title, "\n".join(lines), "markdown" if fmt == "markdown" else "text")
