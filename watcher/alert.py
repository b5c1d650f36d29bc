"""Alerts: format a hit for a channel and send pending deliveries through apprise.

Feed text is untrusted: it is escaped for the channel's format, so a title never becomes
live markup. Every message carries the hit id so a receiver can drop duplicates.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from dataclasses import dataclass
from typing import Any

from watcher.config import Channel
from watcher.store import Store

log = logging.getLogger(__name__)

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~])")
TITLE_MAX = 250


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    body_format: str  # apprise NotifyFormat value: "text", "markdown" or "html"


def escape_markdown(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def format_hit(hit: dict[str, Any], fmt: str) -> Message:
    """The alert for one hit in the channel's format; every feed value is escaped."""
    title = f"[regwatch] {hit['entity']}: {hit['title']}"
    if len(title) > TITLE_MAX:
        title = title[: TITLE_MAX - 1] + "…"
    fields = [
        ("Entity", f"{hit['entity']} (matched \u201c{hit['matched']}\u201d)"),
        ("Title", hit["title"]),
        ("Source", hit["source"]),
        ("Published", hit.get("published") or "unknown"),
        ("Link", hit.get("link") or "(none)"),
    ]
    ref = f"regwatch hit #{hit['hit_id']}"
    snippet = hit.get("snippet") or ""
    if fmt == "html":
        rows = "".join(f"<b>{k}:</b> {html.escape(str(v))}<br>" for k, v in fields[:-1])
        link = hit.get("link")
        link_html = (
            f'<a href="{html.escape(link, quote=True)}">{html.escape(link)}</a>'
            if link
            else "(none)"
        )
        body = (
            f"{rows}<b>Link:</b> {link_html}<br><blockquote>{html.escape(snippet)}"
            f"</blockquote><small>{ref}</small>"
        )
        return Message(html.escape(title), body, "html")
    if fmt == "markdown":
        lines = [f"**{k}:** {escape_markdown(str(v))}" for k, v in fields]
        body = "\n".join(lines) + f"\n\n> {escape_markdown(snippet)}\n\n_{ref}_"
        return Message(escape_markdown(title), body, "markdown")
    body = "\n".join(f"{k}: {v}" for k, v in fields) + f"\n\n{snippet}\n\n{ref}"
    return Message(title, body, "text")


def send(channel: Channel, message: Message, timeout: float = 30.0) -> str | None:
    """Send one message; returns None on success or the reason it failed (never raises)."""
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


def _masked(channel: Channel, text: str) -> str:
    """`text` with the channel's URL (and its secrets) replaced by the masked form."""
    return text.replace(channel.url, channel.masked_url)


def _describe(result: Any) -> str:
    status = getattr(result, "status", None)
    text = str(getattr(status, "value", status) or "failure")
    try:
        logs = [str(entry) for entry in result.logs()][-2:]
    except Exception:  # noqa: BLE001 - older apprise: no logs
        logs = []
    return "; ".join([text, *logs])[:500]


async def dispatch(
    store: Store, channels: tuple[Channel, ...], timeout: float = 30.0
) -> tuple[int, int]:
    """Send every pending delivery; channels run side by side so one slow one blocks none.

    Returns (sent, failed). Each outcome is written as soon as it is known.
    """
    by_name = {c.name: c for c in channels}
    pending = store.pending_deliveries(by_name)
    queues: dict[str, list[dict[str, Any]]] = {}
    for row in pending:
        queues.setdefault(row["channel"], []).append(row)
    counts = {"sent": 0, "failed": 0}

    async def drain(name: str, rows: list[dict[str, Any]]) -> None:
        channel = by_name[name]
        for row in rows:
            message = format_hit(row, channel.format)
            error = await asyncio.to_thread(send, channel, message, timeout)
            store.mark_delivery(row["id"], error)
            if error:
                counts["failed"] += 1
                log.warning("channel %s: hit %s not delivered: %s", name, row["hit_id"], error)
            else:
                counts["sent"] += 1

    await asyncio.gather(*(drain(n, rows) for n, rows in queues.items()))
    return counts["sent"], counts["failed"]
