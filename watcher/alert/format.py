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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from watcher.alert.send import title_apart, title_limit
from watcher.config.model import Channel
from watcher.config.secrets import WEBHOOK_SCHEMES
from watcher.config.template import fill_template, uses_field
from watcher.model import Hit, Message, StoryCopy, web_link
from watcher.timeparse import zone

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
    """The alert for one hit on `channel` (see `format_item`)."""
    return format_item([hit], channel, copies, title_max=title_max, base_url=base_url)


def format_item(
    hits: Sequence[Hit],
    channel: Channel,
    copies: Sequence[StoryCopy] = (),
    *,
    title_max: int | None = None,
    base_url: str | None = None,
) -> Message:
    """The alert for one item on `channel`, naming every entity of its `hits` (all of the
    same item, in id order): the channel's templates if it has them, else the default.

    `copies` are the items of the story; the others are listed as "Also in". With
    `base_url` ([web] base_url) the alert links to the first hit's page, to review it.
    """
    hit = hits[0]
    style = Style.of(channel)
    limit = title_max or title_limit(channel)
    review = hit_url(base_url, hit.id)
    default = _default(hits, style, limit, copies, review, display_zone(channel))
    if not channel.title and not channel.body:
        return default
    mentions = [h.mention for h in hits]
    raw = {
        "entity": ", ".join(entities_of(hits)),
        "title": hit.title,
        "link": hit.link or "",
        "source": hit.source,
        "published": hit.published or "",
        "snippet": hit.mention.snippet or "",
        "topics": ", ".join(dict.fromkeys(t for m in mentions for t in m.topics)),
        "hit_id": str(hit.id),
        "matched": ", ".join(dict.fromkeys(m.matched for m in mentions if m.matched)),
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
        ref = reference(hits, story=False)
        body += f"<br><small>{ref}</small>" if style.fmt == "html" else f"\n\n{ref}"
    return Message(title, body, style.fmt)


def entities_of(hits: Sequence[Hit]) -> list[str]:
    """The entities the hits name, each once, in order."""
    return list(dict.fromkeys(h.entity for h in hits))


def reference(hits: Sequence[Hit], *, story: bool = True) -> str:
    """The ids a receiver drops duplicates by: "regwatch hit #4, story #3" (#4, #5 ...)."""
    ids = ", ".join(f"#{h.id}" for h in hits)
    number = hits[0].story if story else None
    return f"regwatch hit {ids}" + (f", story #{number}" if number else "")


def display_zone(channel: Channel) -> tzinfo:
    """The zone an alert's dates are written in: the channel's `timezone`, else the system's
    (the same rule as the channel's digest schedule)."""
    return zone(channel.timezone)


def readable_date(value: str | None, where: tzinfo) -> str:
    """An ISO date as people write it, in zone `where`: "26 Feb 2024, 11:00 CET"."""
    if not value:
        return "unknown"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(where)
    return f"{when.day} {when:%b %Y, %H:%M} {when.tzname() or ''}".rstrip()


# How each format marks the matched words in a snippet (opening, closing).
MARKS = {
    "html": ('<mark style="background:#ffe066;color:#1a1a1a;padding:0 2px">', "</mark>"),
    "markdown": ("**", "**"),
    "text": ("\u00ab", "\u00bb"),
}


def mark_words(text: str, words: Iterable[str], style: Style) -> str:
    """`text` made safe for `style`, with every occurrence of `words` (case ignored)
    marked: the text is cut at the words first, then each piece escaped on its own."""
    found = [w for w in dict.fromkeys(words) if w and w.strip()]
    if not found:
        return style.escape(text)
    pattern = re.compile("|".join(re.escape(w) for w in sorted(found, key=len, reverse=True)), re.I)
    opening, closing = MARKS[style.fmt]
    out, at = [], 0
    for m in pattern.finditer(text):
        out.append(style.escape(text[at : m.start()]))
        out.append(opening + style.escape(m.group()) + closing)
        at = m.end()
    out.append(style.escape(text[at:]))
    return "".join(out)


# Inline CSS: mail clients drop <style> blocks and classes.
_CSS = {
    "box": "font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;"
    "color:#1a1a1a;max-width:640px",
    "kicker": "margin:0 0 4px;font-size:13px;color:#555",
    "title": "margin:0 0 6px;font-size:19px;line-height:1.3;font-weight:bold",
    "link": "color:#0b57d0;text-decoration:underline",
    "meta": "margin:0 0 12px;font-size:13px;color:#555",
    "quote": "margin:0 0 12px;padding:8px 12px;border-left:3px solid #c8c8c8;"
    "background:#f6f6f6;color:#333",
    "small": "margin:12px 0 0;font-size:12px;color:#777",
}


def _default(
    hits: Sequence[Hit],
    style: Style,
    limit: int,
    copies: Sequence[StoryCopy],
    review: str | None,
    where: tzinfo,
) -> Message:
    """The built-in alert: the title (a link in HTML), the entities and the words that
    matched, source and date, the snippets with the matched words marked, other copies of
    the story, the hit's page in the web view when there is one, and the ids."""
    d = style.defuse
    hit = hits[0]
    link = d(hit.link, link=True)
    names = entities_of(hits)
    matched = {
        e: list(
            dict.fromkeys(h.mention.matched for h in hits if h.entity == e and h.mention.matched)
        )
        for e in names
    }
    words = [w for ws in matched.values() for w in ws]
    snippets = [s for s in dict.fromkeys(h.mention.snippet for h in hits) if s]
    published = readable_date(hit.published, where)
    others = [c for c in copies if c.link != hit.link]
    ref = reference(hits)
    title = trim(f"[regwatch] {d(', '.join(names))}: {d(hit.title)}", limit)
    label = "Entity" if len(names) == 1 else "Entities"

    def named(safe: Callable[[str], str], bold: bool = False) -> str:
        """The entities (in <b> when `bold`) and the words that matched them, made safe."""
        return ", ".join(
            (f"<b>{safe(e)}</b>" if bold else safe(e))
            + (f" (matched {', '.join(f'“{safe(w)}”' for w in matched[e])})" if matched[e] else "")
            for e in names
        )

    if style.fmt == "html":
        esc = style.escape
        heading = (
            f'<a href="{html.escape(link, quote=True)}" style="{_CSS["link"]}">{esc(hit.title)}</a>'
            if web_link(link)
            else esc(hit.title)
        )
        quotes = "".join(
            f'<blockquote style="{_CSS["quote"]}">{mark_words(s, words, style)}</blockquote>'
            for s in snippets
        )
        also = (
            f'<p style="{_CSS["meta"]}">Also in: '
            + "; ".join(
                f'{esc(c.source)} (<a href="{html.escape(d(c.link, link=True), quote=True)}">'
                f"{esc(c.title)}</a>)"
                if web_link(c.link)
                else f"{esc(c.source)} ({esc(c.title)})"
                for c in others
            )
            + "</p>"
            if others
            else ""
        )
        # Addresses written out too: the plain-text part mail clients show is made from
        # this HTML, and keeps a link's text, not its href.
        address = (
            f'<p style="{_CSS["meta"]}">Link: <a href="{html.escape(link, quote=True)}" '
            f'style="{_CSS["link"]}">{esc(hit.link)}</a></p>'
            if web_link(link)
            else ""
        )
        page = (
            f'<p style="{_CSS["meta"]}">Review: <a href="{html.escape(review, quote=True)}" '
            f'style="{_CSS["link"]}">{html.escape(review)}</a></p>'
            if review
            else ""
        )
        body = (
            f'<div style="{_CSS["box"]}">'
            f'<p style="{_CSS["kicker"]}">regwatch alert: {esc(", ".join(names))}</p>'
            f'<p style="{_CSS["title"]}">{heading}</p>'
            f'<p style="{_CSS["meta"]}">{esc(hit.source)} \u00b7 {html.escape(published)}</p>'
            f'<p style="margin:0 0 12px">{label}: {named(esc, bold=True)}</p>'
            f"{quotes}{also}{address}{page}"
            f'<p style="{_CSS["small"]}">{html.escape(ref)}</p></div>'
        )
        return Message(style.title(title), body, style.fmt)
    fields = [
        (label, named(d)),
        ("Title", d(hit.title)),
        ("Source", d(hit.source)),
        ("Published", published),
        ("Link", link or "(none)"),
    ]
    if others:
        also = "; ".join(f"{d(c.source)} ({d(c.link, link=True) or d(c.title)})" for c in others)
        fields.insert(3, ("Also in", also))
    quoted = [mark_words(s, words, style) for s in snippets]
    if style.fmt == "markdown":
        lines = [f"**{k}:** {escape_markdown(v)}" for k, v in fields]
        if review:
            lines.append(f"**Review:** {review}")
        body = "\n".join(lines) + "".join(f"\n\n> {q}" for q in quoted) + f"\n\n_{ref}_"
    else:
        if review:
            fields.append(("Review", review))
        body = "\n".join(f"{k}: {v}" for k, v in fields) + "".join(f"\n\n{q}" for q in quoted)
        body += f"\n\n{ref}"
    return Message(style.title(title), body, style.fmt)
