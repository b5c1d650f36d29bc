"""The CPU work of a poll: parse a body into items, clean and match new items.

The polling process fetches and writes; these functions do the rest. Each takes plain
data and returns plain data, so it runs the same in a worker process (`workers.Workers`)
and in the polling process itself (``workers = 0``): one piece of code for both. What
crosses between processes stays small: a body goes in and its items come out; for
cleaning, each new item's title and HTML (and the linked page, with full_text) go in and
its text and mentions come out.

A worker process builds its matcher once (`start_worker`), from the config's entities and
topics; after a reload with other ones, new workers are started with the new matcher.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from watcher.config.model import Entity, Source, Topic
from watcher.errors import FetchError
from watcher.model import Item, Mention
from watcher.pipeline.match import Matcher
from watcher.pipeline.sources import parser_for
from watcher.text.clean import html_to_text
from watcher.text.repair import repair_text

# What cleaning one item needs: its title, its HTML, and the linked page (body, headers)
# when the source asks for full text.
ToClean = tuple[str, str, tuple[bytes, dict[str, str]] | None]


@dataclass(frozen=True)
class Parsed:
    """The items of a body, or why it is not a document of its kind (`error`).

    When cleaned with the parse, each item's `text` is filled (its HTML dropped) and
    `mentions` holds each item's mentions, in the items' order; otherwise it is None.
    """

    items: list[Item]
    error: FetchError | None = None
    mentions: list[tuple[Mention, ...]] | None = None


@dataclass(frozen=True)
class Cleaned:
    """An item's text (its HTML cleaned, plus the main text of its linked page) and mentions.

    `title` is the item's title, repaired when its encoding was broken upstream.
    """

    text: str
    mentions: tuple[Mention, ...]
    title: str


_matcher: Matcher | None = None  # a worker process's, built by start_worker


def start_worker(entities: tuple[Entity, ...], topics: tuple[Topic, ...]) -> None:
    """Set up a worker process: its matcher; signals left to the polling process.

    Ctrl-C and SIGTERM reach every process of the group: the polling process decides when
    its workers stop (after their job), and a worker whose parent died exits.
    """
    global _matcher
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    _matcher = Matcher(entities, topics)


def load_parsers() -> None:
    """Import the feed parser and BeautifulSoup (a new worker's first job, ahead of need)."""
    parser_for("feed")
    html_to_text("<p>x</p>")


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the parent is gone (its end of a pipe closed)
    os._exit(0)


def parse_body(
    kind: str,
    body: bytes,
    headers: dict[str, str],
    url: str,
    source: Source,
    clean: bool = False,
    matcher: Matcher | None = None,
) -> Parsed:
    """The items of a fetched body, by the source's kind (`error`: not such a document).

    With `clean`, every item is also cleaned and matched (`matcher` None: this worker's):
    for a source none of whose items is stored yet, one job instead of two.
    """
    try:
        items = parser_for(kind)(body, headers, url, source)
    except FetchError as exc:
        return Parsed([], exc)
    if not clean:
        return Parsed(items)
    cleaned = clean_and_match([(i.title, i.html, None) for i in items], matcher)
    for item, done in zip(items, cleaned, strict=True):
        item.title, item.text, item.html = done.title, done.text, ""
    return Parsed(items, mentions=[done.mentions for done in cleaned])


def clean_and_match(items: Iterable[ToClean], matcher: Matcher | None = None) -> list[Cleaned]:
    """Clean each item (its HTML, plus its linked page's main text) and match it.

    `matcher` None: this worker's (see `start_worker`).
    """
    matcher = matcher or _matcher
    assert matcher is not None, "clean_and_match needs a matcher outside a worker"
    out = []
    for raw_title, html, page in items:
        title, text = clean_item(raw_title, html)
        full_text = ""
        if page:
            from watcher.pipeline.sources.html import main_text  # BeautifulSoup's CSS selectors

            full_text = repair_text(main_text(*page))
        if full_text and full_text not in text:
            text = f"{text}\n{full_text}" if text else full_text
        out.append(Cleaned(text, tuple(matcher.match(title, text)), title))
    return out


def clean_item(title: str, html: str) -> tuple[str, str]:
    """An item's title and its HTML as text, both with broken encodings repaired.

    What is stored and what is matched: a mention's offsets point into these strings.
    """
    return repair_text(title), repair_text(html_to_text(html))


def match_texts(
    texts: Iterable[tuple[str, str]], matcher: Matcher | None = None
) -> list[list[Mention]]:
    """The mentions in each (title, text) (`matcher` None: this worker's)."""
    matcher = matcher or _matcher
    assert matcher is not None, "match_texts needs a matcher outside a worker"
    return [matcher.match(title, text) for title, text in texts]
