"""What the parsers' options buy: CPU per item of feedparser and BeautifulSoup, each way.

    .venv/bin/python benchmarks/parsers.py [--feeds 20] [--items 50] [--runs 5]

On the poll benchmark's items (benchmarks/farm.py: RSS, ~2.5 KB of escaped HTML in each
description), best of --runs, in one process:

- feedparser with its default SAX driver list, then with regwatch's
  (watcher/pipeline/sources/saxdriver.py: expat with text buffering, set through
  feedparser's PREFERRED_XML_PARSERS); the items must come out identical.
- BeautifulSoup(markup, "lxml") per item (a new tree builder and lxml parser each time),
  then regwatch's one builder and parser per process (watcher/text/clean.py), building
  the same trees; then html_to_text itself, the walk and whitespace folding included.
- matching the cleaned text with the three entities of the poll benchmark.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import feedparser
import feedparser.api
from farm import feed  # benchmarks/farm.py: this script's folder is on sys.path

from watcher.config.model import Entity
from watcher.pipeline.match import Matcher
from watcher.pipeline.sources import feed as feed_kind
from watcher.pipeline.sources import saxdriver
from watcher.text.clean import html_to_text, make_fragment_soup


def best(runs: int, count: int, work: Callable[[], Any]) -> float:
    """Milliseconds of CPU per item, the best of `runs`."""
    times = []
    for _ in range(runs):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return min(times) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bodies = [feed(n, args.items) for n in range(args.feeds)]
    count = args.feeds * args.items
    headers = {"content-type": "application/rss+xml; charset=utf-8"}

    def parse_all() -> list[Any]:
        return [feed_kind.parse(body, headers, "http://farm.example/") for body in bodies]

    ours = feedparser.api.PREFERRED_XML_PARSERS
    feedparser.api.PREFERRED_XML_PARSERS = ["drv_libxml2"]  # feedparser's own default
    plain_items = parse_all()
    plain = best(args.runs, count, parse_all)
    feedparser.api.PREFERRED_XML_PARSERS = ours
    assert ours == [saxdriver.__name__]
    buffered_items = parse_all()
    buffered = best(args.runs, count, parse_all)
    assert plain_items == buffered_items, "the buffering driver changed the items"
    print(f"feedparser, default SAX drivers:      {plain:.3f} ms per item")
    print(f"feedparser, expat buffering its text: {buffered:.3f} ms per item")

    htmls = [item.html for items in buffered_items for item in items]
    from bs4 import BeautifulSoup

    new_each = best(args.runs, count, lambda: [BeautifulSoup(h, "lxml") for h in htmls])
    reused = best(args.runs, count, lambda: [make_fragment_soup(h) for h in htmls])
    cleaned = best(args.runs, count, lambda: [html_to_text(h) for h in htmls])
    print(f"BeautifulSoup(html, 'lxml') per item: {new_each:.3f} ms per item")
    print(f"one builder and parser per process:   {reused:.3f} ms per item")
    print(f"html_to_text (tree, walk, folding):   {cleaned:.3f} ms per item")

    matcher = Matcher([Entity(name, (name,)) for name in ("Microsoft", "OpenAI", "Mistral AI")])
    texts = [(item.title, html_to_text(item.html)) for items in buffered_items for item in items]
    matched = best(args.runs, count, lambda: [matcher.match(t, x) for t, x in texts])
    print(f"matching (3 entities):                {matched:.3f} ms per item")


if __name__ == "__main__":
    main()
