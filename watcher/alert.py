"""Alerts: format a hit for a channel and send one message through apprise.

Feed text is untrusted: it is escaped for the channel's format, so a title never becomes
live markup; for chat services (Slack, Mattermost, ...) mentions (``<!channel>``, ``<@U1>``,
``@here``) and ``<url|text>`` links are defused too. Every message carries the hit id so a
receiver can drop duplicates. The outbox (watcher/outbox.py) decides what to send when.
"""

from __future__ import annotations

import html
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from watcher.config import Channel, Delivery
from watcher.store import Store
from watcher.template import fill_template, uses_field

log = logging.getLogger(__name__)

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~])")
TITLE_MAX = 250
# Chat services whose messages carry mentions and <url|text> links (apprise URL schemes).
CHAT_SCHEMES = frozenset(
    ["slack", "mmost", "mmosts", "rocket", "rockets", "discord", "zulip", "msteams", "gchat"]
    + ["ryver", "ryvers", "workflow", "workflows", "matrix", "matrixs", "teams"]
)
# Of those, the ones that render markdown even in a plain-text message.
MARKDOWN_ALWAYS = CHAT_SCHEMES - {"slack", "msteams", "workflow", "workflows"}
_MENTION = re.compile(r"([@!#])(?=\w)")


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    body_format: str  # apprise NotifyFormat value: "text", "markdown" or "html"


def escape_markdown(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def defuse_chat(text: str) -> str:
    """Feed text made inert for chat services: no <!channel>, <@U1>, <url|text>, @here."""
    # Angle brackets become look-alikes: every Slack/Mattermost construct needs a real "<"
    # or ">" (apprise's Slack plugin even turns "&lt;!channel&gt;" back into a mention).
    text = text.replace("<", "\u2039").replace(">", "\u203a")
    # A zero-width space after @ / ! / # stops @channel, @here, @all and user mentions.
    return _MENTION.sub("\\1\u200b", text)


def defuse_link(link: str) -> str:
    """A link with the characters that end a chat link (<, >, |) percent-encoded."""
    return link.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")


def _defuse_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (defuse_link(v) if k == "link" else defuse_chat(v)) if isinstance(v, str) else v
        for k, v in row.items()
    }


def escape_value(text: str, fmt: str, scheme: str = "", *, link: bool = False) -> str:
    """One feed value escaped for a message format and the service it goes to."""
    if scheme in CHAT_SCHEMES:
        text = defuse_link(text) if link else defuse_chat(text)
    if fmt == "html":
        return html.escape(text)
    if fmt == "markdown" or scheme in MARKDOWN_ALWAYS:
        return escape_markdown(text)
    return text


def title_limit(channel: Channel) -> int:
    """The longest title the channel's service accepts (ours is never above TITLE_MAX)."""
    import apprise

    try:
        plugin = apprise.Apprise.instantiate(channel.url, suppress_exceptions=True)
        service = int(getattr(plugin, "title_maxlen", 0) or 0) if plugin else 0
    except Exception:  # noqa: BLE001 - a plugin that cannot say keeps our own limit
        service = 0
    return min(TITLE_MAX, service) if service > 0 else TITLE_MAX


def trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def format_hit(
    hit: dict[str, Any],
    fmt: str,
    *,
    scheme: str = "",
    copies: list[dict[str, Any]] | None = None,
    title_max: int = TITLE_MAX,
) -> Message:
    """The alert for one hit in the channel's format; every feed value is escaped.

    `copies` are the other items of the hit's story, listed as "Also in"; `scheme` is the
    channel's apprise scheme, so chat markup in feed text is defused for chat services.
    """
    if scheme in CHAT_SCHEMES:
        hit = _defuse_row(hit)
        copies = [_defuse_row(c) for c in copies or []]
        if scheme in MARKDOWN_ALWAYS and fmt == "text":
            fmt = "markdown"
    title = trim(f"[regwatch] {hit['entity']}: {hit['title']}", title_max)
    others = [c for c in copies or [] if c.get("link") != hit.get("link")]
    fields = [
        ("Entity", f"{hit['entity']} (matched \u201c{hit['matched']}\u201d)"),
        ("Title", hit["title"]),
        ("Source", hit["source"]),
        ("Published", hit.get("published") or "unknown"),
        ("Link", hit.get("link") or "(none)"),
    ]
    if others:
        fields.insert(
            3,
            (
                "Also in",
                "; ".join(f"{c['source']} ({c.get('link') or c['title']})" for c in others),
            ),
        )
    ref = f"regwatch hit #{hit['hit_id']}" + (
        f", story #{hit['story']}" if hit.get("story") else ""
    )
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


def render_hit(
    hit: dict[str, Any], channel: Channel, copies: list[dict[str, Any]] | None = None
) -> Message:
    """The alert for one hit on `channel`: its templates if it has them, else format_hit."""
    scheme = scheme_of(channel.url)
    limit = title_limit(channel)
    default = format_hit(hit, channel.format, scheme=scheme, copies=copies, title_max=limit)
    if not channel.title and not channel.body:
        return default
    raw = {
        "entity": hit["entity"],
        "title": hit["title"],
        "link": hit.get("link") or "",
        "source": hit["source"],
        "published": hit.get("published") or "",
        "snippet": hit.get("snippet") or "",
        "topics": ", ".join(_topics(hit.get("topics"))),
        "hit_id": str(hit["hit_id"]),
        "matched": hit.get("matched") or "",
        "story": str(hit.get("story") or ""),
        "sources": ", ".join(sorted({c["source"] for c in copies or []} | {hit["source"]})),
    }
    fmt = channel.format
    values = {k: escape_value(v, fmt, scheme, link=k == "link") for k, v in raw.items()}
    title = trim(fill_template(channel.title, values), limit) if channel.title else default.title
    if not channel.body:
        return Message(title, default.body, default.body_format)
    body = fill_template(channel.body, values)
    if not uses_field(channel.body, "hit_id"):  # receivers drop duplicates by this id
        ref = f"regwatch hit #{hit['hit_id']}"
        body += f"<br><small>{ref}</small>" if fmt == "html" else f"\n\n{ref}"
    return Message(title, body, fmt)


def _topics(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [str(v) for v in value or []]


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


async def dispatch(
    store: Store, channels: tuple[Channel, ...], *, delivery: Delivery | None = None
) -> tuple[int, int]:
    """Send every due delivery and message now (see watcher.outbox); returns (sent, failed)."""
    from watcher.outbox import Dispatcher

    return await Dispatcher(store, channels, delivery, report=logging.DEBUG).drain()
