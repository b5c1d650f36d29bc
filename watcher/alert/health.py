"""Source health: one alert when a source starts failing or goes stale, one when it recovers.

A source is "failing" after delivery.health_failures consecutive failed polls, "stale" when
it has produced no new item for longer than its `stale_after`, "ok" otherwise. Only a change
of state is alerted (to channels with `health = true`), never each failed poll. The new state
and its messages are written in one transaction, so a crash re-evaluates rather than loses;
the state is compared-and-set, so several daemons judging one source alert once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from watcher.alert.format import Style
from watcher.config.model import Channel, Config, Source
from watcher.model import Message
from watcher.store import SourceHealth, Store
from watcher.timeparse import iso

log = logging.getLogger(__name__)


def judge_health(facts: SourceHealth, source: Source, failures_limit: int, now: datetime) -> str:
    """The health of a source from its stored poll state: "ok", "failing" or "stale"."""
    if facts.failures >= failures_limit:
        return "failing"
    since = facts.newest_item_at or facts.first_poll_at
    stale_since = now - timedelta(seconds=source.stale_after or 0)
    if source.stale_after and since and datetime.fromisoformat(since) < stale_since:
        return "stale"
    return "ok"


def check_health(config: Config, store: Store, source: Source, now: datetime) -> str | None:
    """Re-evaluate one source after a poll; on a change, queue alerts. Returns the new state."""
    facts = store.source_health(source.name)
    if facts is None:
        return None
    state = judge_health(facts, source, config.delivery.health_failures, now)
    if facts.health == state:
        return None
    at = iso(now)
    change = (facts.health, state)
    alerts = [
        (
            c.name,
            "health",
            f"{source.name}: {state}",
            health_message(config, c, source, change, facts.last_error, at),
        )
        for c in config.channels
        if c.health
    ]
    if not store.change_health(source.name, change, at, alerts):
        return None  # another daemon recorded (and alerted) this change
    log.warning("source %s: health %s -> %s", source.name, facts.health, state)
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
    style = Style.of(channel)
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
    name = style.escape(source.name)
    lines = [
        f"Source {name} {what}.",
        style.escape(detail),
        f"URL: {style.escape(source.url, link=True)}",
        f"regwatch health alert: {name} {state} at {at}",
    ]
    return Message(f"[regwatch] source {source.name} {what}", style.join(lines), style.fmt)
