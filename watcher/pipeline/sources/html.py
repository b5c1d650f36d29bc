"""Web pages that list news, read through CSS selectors (BeautifulSoup + lxml).

The selectors come from ``[sources.selectors]``; their defaults fit the Europa Component
Library listings of commission.europa.eu, digital-strategy and competition-policy pages.
A page where the item selector matches nothing is an error: the layout changed, and
"no news" would hide it.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning
from bs4.element import Tag

from watcher.config.model import Selectors, Source
from watcher.errors import FetchError
from watcher.model import Item
from watcher.pipeline.sources.common import item_key, safe_link
from watcher.text.clean import html_to_text
from watcher.timeparse import parse_date


def charset_of(headers: dict[str, str]) -> str | None:
    """The charset a Content-Type header declares, if any."""
    for part in headers.get("content-type", "").split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def make_soup(body: bytes, headers: dict[str, str]) -> BeautifulSoup:
    """The parsed page; the HTTP charset is a hint that the page's own bytes may overrule."""
    with warnings.catch_warnings():
        # A feed or XML served to an html source is read as HTML on purpose: no warning.
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        return BeautifulSoup(body, "lxml", from_encoding=charset_of(headers))


# Page furniture that is not the article: dropped before taking the text.
FURNITURE = (
    "nav, header, footer, aside, form, script, style, noscript, template, iframe, "
    "[role=navigation], [role=banner], [role=contentinfo], [aria-hidden=true]"
)
MAIN = ("article", "main", "[role=main]", "#content", ".content", "body")


def main_text(body: bytes, headers: dict[str, str]) -> str:
    """The readable main text of an article page, without navigation, header and footer."""
    soup = make_soup(body, headers)
    for node in soup.select(FURNITURE):
        node.decompose()
    for selector in MAIN:
        found = soup.select(selector)
        if found:
            # Several <article>s: a page of teasers more often than one story; take the longest.
            best = max(found, key=lambda n: len(n.get_text()))
            text = html_to_text(str(best))
            if text:
                return text
    return ""


def _first(element: Tag, selector: str) -> Tag | None:
    """The first match inside `element`, else `element` itself when it matches."""
    found = element.select_one(selector)
    if found is not None:
        return found
    return element if element.css.match(selector) else None


def _date(element: Tag, selector: str) -> str | None:
    """The first date among the matches, those with a `datetime` attribute first."""
    nodes = element.select(selector) or [element]
    for node in sorted(nodes, key=lambda n: not n.get("datetime")):
        stamp = node.get("datetime")
        found = parse_date(stamp if isinstance(stamp, str) else None) or parse_date(
            node.get_text(" ")
        )
        if found:
            return found
    return None


def parse(
    body: bytes, headers: dict[str, str], url: str, source: Source | None = None
) -> list[Item]:
    """Items of a listing page; FetchError when the item selector matches nothing."""
    sel = source.selectors if source else Selectors()
    soup = make_soup(body, headers)
    base_tag = soup.find("base", href=True)
    base = safe_link(str(base_tag["href"]), url) if isinstance(base_tag, Tag) else None
    base = base or url
    elements = soup.select(sel.item)
    if not elements:
        raise FetchError(
            f"the item selector {sel.item!r} matches nothing on the page "
            "(the page layout may have changed)",
            hint="open the page, then fix [sources.selectors] item for this source",
        )
    discovered = datetime.now(UTC).isoformat(timespec="seconds")
    items = []
    for element in elements:
        title_el = _first(element, sel.title)
        title = " ".join(title_el.get_text(" ").split()) if title_el else ""
        link_el = _first(element, sel.link)
        href = link_el.get("href") if link_el else None
        link = safe_link(href if isinstance(href, str) else None, base)
        published = _date(element, sel.date)
        summary_el = _first(element, sel.summary)
        summary = summary_el.decode_contents() if summary_el else ""
        if not title and not link:
            continue
        if not title:
            title = html_to_text(summary)[:200] or link or ""
        items.append(
            Item(
                key=item_key(None, link, title, summary),
                title=title,
                link=link,
                # Undated items get their discovery time, so "since" queries still see them.
                published=published or discovered,
                html=summary,
            )
        )
    return items
