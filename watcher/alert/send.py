"""Sending one message through apprise, and what a channel's service accepts.

apprise is imported on first use: a poll with nothing to send never loads its plugins.
"""

from __future__ import annotations

from typing import Any

from watcher.config.model import Channel
from watcher.model import Message

TITLE_MAX = 250


def send(channel: Channel, message: Message, timeout: float = 30.0) -> str | None:
    """Send one message; returns None on success or the reason it failed (never raises).

    apprise 2.x returns an AppriseResult whose truth is its status: only SUCCESS is true
    (PARTIAL, TIMEOUT and NOMATCH count as failures); apprise 1.x returned a bool.
    """
    import apprise

    try:
        sender = apprise.Apprise()
        if not sender.add(channel.url):
            return f"apprise rejected the URL of channel {channel.name!r}"
        result = sender.notify(
            body=message.body, title=message.title, body_format=message.body_format, timeout=timeout
        )
    except Exception as exc:  # noqa: BLE001 - a plugin may raise anything; record it instead
        return _masked(channel, f"{type(exc).__name__}: {exc}")
    if result:
        return None
    return _masked(channel, f"{channel.name}: delivery failed ({_describe(result)})")


def title_limit(channel: Channel) -> int:
    """The longest title the channel's service accepts (ours is never above TITLE_MAX)."""
    service = _service_title_max(channel)
    return min(TITLE_MAX, service) if service > 0 else TITLE_MAX


def title_apart(channel: Channel) -> bool:
    """True when the service keeps the title apart from the body (an email's Subject).

    apprise blends the title into the body (converted like the body) only for services
    without a title of their own (title_maxlen 0); elsewhere the title is sent as given.
    """
    return _service_title_max(channel) > 0


def _service_title_max(channel: Channel) -> int:
    """apprise's title_maxlen for the channel's service; 0 when it has none or cannot say."""
    import apprise

    try:
        plugin = apprise.Apprise.instantiate(channel.url, suppress_exceptions=True)
        return int(getattr(plugin, "title_maxlen", 0) or 0) if plugin else 0
    except Exception:  # noqa: BLE001 - a plugin that cannot say: treated as blending
        return 0


def _masked(channel: Channel, text: str) -> str:
    """`text` with the channel's URL (and its secrets) replaced by the masked form."""
    return text.replace(channel.url, channel.masked_url)


def _describe(result: Any) -> str:
    status = getattr(result, "status", None)
    text = str(getattr(status, "name", status) or "failure").lower()
    try:
        logs = [str(entry) for entry in result.logs()][-2:]
    except Exception:  # noqa: BLE001 - older apprise: no logs
        logs = []
    return "; ".join([text, *logs])[:500]
