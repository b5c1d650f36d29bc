"""Feed HTML to plain text, and snippets around a mention.

Feed HTML is never rendered: it is turned into text with BeautifulSoup (lxml), so
inline tags do not split words (``Open<b>AI</b>`` reads ``OpenAI``) while block tags
and ``<br>`` separate them; entities are decoded and whitespace is folded.
"""

from __future__ import annotations

import html
import re

from bs4 import BeautifulSoup, Comment, Declaration, Doctype, NavigableString, ProcessingInstruction
from bs4.element import Tag

BLOCK = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "html",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
        "title",
        "option",
    ]
)
SKIP = frozenset(
    ["script", "style", "noscript", "template", "head", "iframe", "object", "embed", "svg", "math"]
)
_SPACE = re.compile(r"[^\S\n]+")
_LINES = re.compile(r"\s*\n\s*")
_MARKUP = re.compile(r"[<&]")


def fold_space(text: str) -> str:
    """Fold runs of spaces (including non-breaking ones) and blank lines."""
    text = _SPACE.sub(" ", text)
    return _LINES.sub("\n", text).strip()


def html_to_text(markup: str | None) -> str:
    """Plain text of an HTML fragment; plain text passes through with whitespace folded."""
    if not markup:
        return ""
    if not _MARKUP.search(markup):
        return fold_space(markup)
    if "<" not in markup:
        return fold_space(html.unescape(markup))
    soup = BeautifulSoup(markup, "lxml")
    out: list[str] = []
    # An explicit stack rather than recursion: hostile feeds nest tags thousands deep.
    stack: list[object] = [soup]
    while stack:
        node = stack.pop()
        if isinstance(node, str) and not isinstance(node, NavigableString):
            out.append(node)  # a block separator pushed below
        elif isinstance(node, NavigableString):
            if not isinstance(node, (Comment, Declaration, Doctype, ProcessingInstruction)):
                out.append(str(node))
        elif isinstance(node, Tag):
            name = (node.name or "").lower()
            if name in SKIP:
                continue
            if name == "br":
                out.append("\n")
                continue
            block = name in BLOCK
            if block:
                out.append("\n")
                stack.append("\n")
            stack.extend(reversed(node.contents))
    return fold_space("".join(out))


def make_snippet(text: str, start: int, end: int, width: int = 240) -> str:
    """About `width` characters of `text` around [start, end), cut at word boundaries."""
    if len(text) <= width:
        return text.replace("\n", " ")
    room = max(width - (end - start), 0) // 2
    left = max(0, start - room)
    right = min(len(text), end + room)
    if left > 0:
        space = text.find(" ", left, start)
        left = space + 1 if space != -1 else left
    if right < len(text):
        space = text.rfind(" ", end, right)
        right = space if space != -1 else right
    snippet = text[left:right].replace("\n", " ")
    return ("…" if left > 0 else "") + snippet + ("…" if right < len(text) else "")


# Around a mention or a search's matching words. Markdown-style: guillemets are French quotes.
MARK = "**"
MARK_OPEN = MARK_CLOSE = MARK


def mark_snippet(text: str, start: int, end: int, width: int = 240) -> str:
    """The snippet around [start, end) with the mention marked **like this**."""
    marked = text[:start] + MARK_OPEN + text[start:end] + MARK_CLOSE + text[end:]
    return make_snippet(marked, start, end + len(MARK_OPEN) + len(MARK_CLOSE), width)
