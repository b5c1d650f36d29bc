"""Alerts as messages: a hit, a digest line or a health change, in the channel's format.

Feed text is untrusted: it is escaped for the channel's format, so a title never becomes
live markup; for chat services (Slack, Mattermost, ...) and generic webhooks (json://,
xml://, form://: often bridged into a chat or a web page) mentions (``<!channel>``,
``<@U1>``, ``@here``), ``<url|text>`` links and tags are defused too, unless a webhook
channel says ``raw = true``. A title the service keeps apart from the body (an email's
Subject) is plain text: it is never HTML-escaped. Every hit message carries the hit id
so a receiver can drop duplicates. `Style.of(channel)` is the one place that decides a
channel's format and escaping; every message is built through it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from watcher.alert.send import title_apart, title_limit
from watcher.config.model import WEBHOOK_SCHEMES, Channel
from watcher.config.template import fill_template, uses_field
from watcher.model import Hit, Message, StoryCopy

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~])")
# Chat services whose messages carry mentions and <url|text> links (apprise URL schemes).
CHAT_SCHEMES = frozenset(
    ["slack", "mmost", "mmosts", "rocket", "rockets", "discord", "zulip", "msteams", "gchat"]
    + ["ryver", "ryvers", "workflow", "workflows", "matrix", "matrixs", "teams"]
)
# Of those, the ones that render markdown even in a plain-text message.
MARKDOWN_ALWAYS = CHAT_SCHEMES - {"slack", "msteams", "workflow", "workflows"}
_MENTION = re.compile(r"([@!#])(?=\w)")


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


def trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


@dataclass(frozen=True)
class Style:
    """How one channel's messages are written: "text", "markdown" or "html", and escaping."""

    fmt: str
    chat: bool = False  # a chat service or a webhook: defuse mentions and chat links
    title_apart: bool = False  # the service keeps the title apart (an email's Subject)

    @classmethod
    def of(cls, channel: Channel) -> Style:
        scheme = scheme_of(channel.url)
        fmt = channel.format
        if fmt == "text" and scheme in MARKDOWN_ALWAYS:
            fmt = "markdown"  # the service renders markdown anyway: escape for it
        chat = scheme in CHAT_SCHEMES or (scheme in WEBHOOK_SCHEMES and not channel.raw)
        return cls(fmt, chat, title_apart(channel))

    def defuse(self, text: str | None, *, link: bool = False) -> str:
        """Feed text made inert for a chat service (unchanged elsewhere)."""
        text = text or ""
        if not self.chat:
            return text
        return defuse_link(text) if link else defuse_chat(text)

    def markup(self, text: str) -> str:
        """Text escaped for the format: it shows as written, never as markup."""
        if self.fmt == "html":
            return html.escape(text)
        if self.fmt == "markdown":
            return escape_markdown(text)
        return text

    def escape(self, text: str | None, *, link: bool = False) -> str:
        """One feed value, safe in this style."""
        return self.markup(self.defuse(text, link=link))

    def title(self, text: str) -> str:
        """A title (already defused) as the service wants it: HTML is escaped only where
        the service puts the title into the HTML body; a Subject is plain text."""
        return text if self.fmt == "html" and self.title_apart else self.markup(text)

    def join(self, lines: Sequence[str]) -> str:
        return ("<br>" if self.fmt == "html" else "\n").join(lines)


def hit_url(base_url: str | None, hit_id: int) -> str | None:
    """The address of a hit's page in the web view, when [web] base_url is set."""
    return f"{base_url.rstrip('/')}/-/hits/{hit_id}" if base_url else None


def format_hit(
    hit: Hit,
    channel: Channel,
    copies: Sequence[StoryCopy] = (),
    *,
    title_max: int | None = None,
    base_url: str | None = None,
) -> Message:
    """The alert for one hit on `channel`: its templates if it has them, else the default.

    `copies` are the items of the hit's story; the others are listed as "Also in". With
    `base_url` ([web] base_url) the alert links to the hit's page, to review it.
    """
    style = Style.of(channel)
    limit = title_max or title_limit(channel)
    review = hit_url(base_url, hit.id)
    default = _default(hit, style, limit, copies, review)
    if not channel.title and not channel.body:
        return default
    m = hit.mention
    raw = {
        "entity": m.entity,
        "title": hit.title,
        "link": hit.link or "",
        "source": hit.source,
        "published": hit.published or "",
        "snippet": m.snippet or "",
        "topics": ", ".join(m.topics),
        "hit_id": str(hit.id),
        "matched": m.matched or "",
        "story": str(hit.story or ""),
        "sources": ", ".join(sorted({c.source for c in copies} | {hit.source})),
        "hit_url": review or "",
    }
    values = {k: style.escape(v, link=k in ("link", "hit_url")) for k, v in raw.items()}
    if channel.title:
        plain = {
            k: style.title(style.defuse(v, link=k in ("link", "hit_url"))) for k, v in raw.items()
        }
        title = trim(fill_template(channel.title, plain), limit)
    else:
        title = default.title
    if not channel.body:
        return Message(title, default.body, default.body_format)
    body = fill_template(channel.body, values)
    if not uses_field(channel.body, "hit_id"):  # receivers drop duplicates by this id
        ref = f"regwatch hit #{hit.id}"
        body += f"<br><small>{ref}</small>" if style.fmt == "html" else f"\n\n{ref}"
    return Message(title, body, style.fmt)


def _default(
    hit: Hit, style: Style, limit: int, copies: Sequence[StoryCopy], review: str | None
) -> Message:
    """The built-in alert: labelled fields, the snippet, the hit and story ids, and the
    hit's page in the web view when there is one."""
    d = style.defuse
    m = hit.mention
    link = d(hit.link, link=True)
    fields = [
        ("Entity", f"{d(m.entity)} (matched \u201c{d(m.matched)}\u201d)"),
        ("Title", d(hit.title)),
        ("Source", d(hit.source)),
        ("Published", d(hit.published) or "unknown"),
        ("Link", link or "(none)"),
    ]
    others = [c for c in copies if c.link != hit.link]
    if others:
        also = "; ".join(f"{d(c.source)} ({d(c.link, link=True) or d(c.title)})" for c in others)
        fields.insert(3, ("Also in", also))
    ref = f"regwatch hit #{hit.id}" + (f", story #{hit.story}" if hit.story else "")
    title = trim(f"[regwatch] {d(m.entity)}: {d(hit.title)}", limit)
    snippet = style.markup(d(m.snippet))
    if style.fmt == "html":
        rows = "".join(f"<b>{k}:</b> {html.escape(v)}<br>" for k, v in fields[:-1])
        anchor = (
            f'<a href="{html.escape(link, quote=True)}">{html.escape(link)}</a>'
            if link
            else "(none)"
        )
        page = (
            f'<b>Review:</b> <a href="{html.escape(review, quote=True)}">{html.escape(review)}</a><br>'
            if review
            else ""
        )
        body = (
            f"{rows}<b>Link:</b> {anchor}<br>{page}<blockquote>{snippet}</blockquote>"
            f"<small>{ref}</small>"
        )
    elif style.fmt == "markdown":
        lines = [f"**{k}:** {escape_markdown(v)}" for k, v in fields]
        if review:
            lines.append(f"**Review:** {review}")
        body = "\n".join(lines) + f"\n\n> {snippet}\n\n_{ref}_"
    else:
        if review:
            fields.append(("Review", review))
        body = "\n".join(f"{k}: {v}" for k, v in fields) + f"\n\n{snippet}\n\n{ref}"
    return Message(style.title(title), body, style.fmt)
