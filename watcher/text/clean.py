"""Feed HTML to plain text, and snippets around a mention.

Feed HTML is never rendered: it is turned into text with BeautifulSoup (lxml), so
inline tags do not split words (``Open<b>AI</b>`` reads ``OpenAI``) while block tags
and ``<br>`` separate them; entities are decoded and whitespace is folded.

BeautifulSoup is imported on first use (a poll of unchanged feeds never needs it), and
one tree builder with one lxml parser serves every fragment of a process: building a
parser for each item made lxml inspect the builder's methods (``inspect.getfullargspec``)
once per item, a tenth of the cleaning time.
"""

from __future__ import annotations

import html
import re
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bs4 import BeautifulSoup

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
# A run of whitespace other than line breaks that is not already one plain space: two or
# more characters, or one that is not " " (a tab, a non-breaking space ...).
_SPACE = re.compile(r" [^\S\n]+|[^\S\n ][^\S\n]*")
_MARKUP = re.compile(r"[<&]")


def fold_space(text: str) -> str:
    """Fold runs of spaces (including non-breaking ones) and blank lines."""
    text = _SPACE.sub(" ", text)
    if "\n" not in text:
        return text.strip()
    # Only " " and "\n" are left: strip each line and drop the empty ones.
    return "\n".join([kept for line in text.split("\n") if (kept := line.strip())])


_local = threading.local()  # the tree builder of this thread (builders are not thread-safe)


def make_fragment_soup(markup: str) -> BeautifulSoup:
    """An HTML fragment parsed by BeautifulSoup (lxml), through this thread's one builder."""
    from bs4 import BeautifulSoup

    builder = getattr(_local, "builder", None)
    if builder is None:
        builder = _local.builder = _reusing_builder()
    return BeautifulSoup(markup, builder=builder)


def _reusing_builder() -> Any:
    """bs4's lxml tree builder, keeping its lxml parser from one document to the next."""
    from bs4.builder._lxml import LXMLTreeBuilder
    from lxml import etree

    class ReusingBuilder(LXMLTreeBuilder):
        parser: Any = None  # lxml parsers may be reused once closed

        def default_parser(self, encoding: str | None) -> Any:
            if encoding is not None:  # bytes in a declared encoding: a parser for it
                return super().default_parser(encoding)
            if self.parser is None:
                self.parser = etree.HTMLParser(target=self, recover=True, huge_tree=self.huge_tree)
            return self.parser

        def feed(self, markup: Any) -> None:
            try:
                super().feed(markup)
            except BaseException:
                self.parser = None  # never reuse a parser left in the middle of a document
                raise

    return ReusingBuilder()


def html_to_text(markup: str | None) -> str:
    """Plain text of an HTML fragment; plain text passes through with whitespace folded."""
    if not markup:
        return ""
    if not _MARKUP.search(markup):
        return fold_space(markup)
    if "<" not in markup:
        return fold_space(html.unescape(markup))
    from bs4 import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction
    from bs4.element import Tag

    soup = make_fragment_soup(markup)
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
