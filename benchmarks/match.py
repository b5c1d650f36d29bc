"""Time matching per 3 KB item with watchlists of 3, 1,000 and 10,000 entities.

The 3 entities are the starter config's (Microsoft, Mistral AI, OpenAI, with their weak
aliases, context, exclusions and the topic lexicon). Larger watchlists add generated
European companies: a name, the name with its legal form, for some a ticker (exact alias)
or a weak short name with a context term. Items are ~3 KB of multilingual text built from
the labelled set, so they carry real mentions, accents, elisions and soft hyphens.

Run: .venv/bin/python benchmarks/match.py [--items 200] [--repeat 5] [--feeds FILE ...]
     [--config FILE] [--no-variants]
(--feeds: items cut from real feeds instead, e.g. ../shared/corpora/rss-parser/test/input/
guardian.rss and heise.atom: typical text with few mentions.)
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from pathlib import Path

from watcher.config import Entity, load_config
from watcher.pipeline.match import Matcher
from watcher.text.clean import html_to_text

ROOT = Path(__file__).resolve().parent.parent
STARTER = ROOT / "watcher" / "starter.toml"

STEMS = [
    "Nor",
    "Alp",
    "Vert",
    "Quant",
    "Lum",
    "Cyr",
    "Bel",
    "Sol",
    "Tec",
    "Gal",
    "Mer",
    "Ori",
    "Pol",
    "Ter",
    "Vol",
    "Zen",
    "Hel",
    "Kar",
    "Lex",
    "Nov",
    "Ast",
    "Bri",
    "Cal",
    "Dor",
    "Eri",
    "Fal",
    "Gri",
    "Ivo",
    "Jan",
    "Kel",
    "Lor",
    "Mar",
    "Nex",
    "Oro",
    "Pra",
    "Rho",
    "Sil",
    "Tor",
    "Ulm",
    "Val",
    "Wen",
    "Xer",
    "Ygg",
    "Zor",
]
ENDINGS = [
    "via",
    "ora",
    "is",
    "ex",
    "on",
    "ia",
    "ant",
    "ix",
    "um",
    "eco",
    "ona",
    "ella",
    "ero",
    "ikon",
    "ara",
    "eon",
]
SECTORS = [
    "Energy",
    "Bank",
    "Pharma",
    "Logistics",
    "Telecom",
    "Motors",
    "Foods",
    "Insurance",
    "Capital",
    "Systems",
    "Chemicals",
    "Aerospace",
    "Retail",
    "Steel",
    "Media",
    "Shipping",
]
LEGAL = ["SA", "AG", "GmbH", "S.p.A.", "Ltd", "plc", "SAS", "S.L.", "NV", "Oyj", "AB", "SE"]


def make_watchlist(n: int, base: tuple[Entity, ...], seed: int = 7) -> list[Entity]:
    """`n` entities: the starter's, then generated companies with unique aliases."""
    rng = random.Random(seed)
    entities = list(base[:n])
    used: set[str] = set()
    while len(entities) < n:
        stem = rng.choice(STEMS) + rng.choice(ENDINGS) + rng.choice(["", "a", "o", "en"])
        name = f"{stem} {rng.choice(SECTORS)}"
        if name.lower() in used:
            continue
        used.add(name.lower())
        aliases = (name, f"{name} {rng.choice(LEGAL)}")
        extra: dict = {}
        roll = rng.random()
        if roll < 0.2:
            ticker = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
            if ticker.lower() not in used:
                used.add(ticker.lower())
                extra["exact_aliases"] = (ticker,)
        elif roll < 0.3 and stem.lower() not in used:
            used.add(stem.lower())
            extra["weak_aliases"] = (stem,)
            extra["context"] = (name.split()[1].lower(),)
        entities.append(Entity(name=name, aliases=aliases, **extra))
    return entities


def labelled_texts() -> list[tuple[str, str]]:
    """(title, text) of the labelled set: dense with mentions, accents and soft hyphens."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from match_quality import load_labelled

    return [(it["title"], html_to_text(it["html"])) for it in load_labelled()]


def feed_texts(paths: list[str]) -> list[tuple[str, str]]:
    """(title, text) of every item of these feed files (e.g. real feeds in shared corpora)."""
    from watcher.pipeline.sources import feed

    out = []
    for path in paths:
        body = Path(path).read_bytes()
        for item in feed.parse(body, {}, "https://example.org/"):
            out.append((item.title, html_to_text(item.html)))
    return out


def make_items(
    sources: list[tuple[str, str]], count: int, size: int = 3000, seed: int = 11
) -> list[tuple[str, str]]:
    """`count` (title, text) pairs of about `size` characters, cut from `sources`."""
    rng = random.Random(seed)
    items = []
    for _ in range(count):
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < size:
            title, text = rng.choice(sources)
            parts.append(f"{title}. {text}")
        items.append((rng.choice(sources)[0], "\n".join(parts)[:size]))
    return items


def time_matcher(matcher: Matcher, items: list[tuple[str, str]], repeat: int) -> float:
    """Best-of-`repeat` mean CPU seconds per item (CPU time: the machine may be shared)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for title, text in items:
            matcher.match(title, text)
        best = min(best, (time.process_time() - started) / len(items))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200, help="items per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best is kept")
    parser.add_argument(
        "--feeds",
        nargs="*",
        metavar="FILE",
        help="build items from these feed files instead of the labelled set",
    )
    parser.add_argument("--config", default=str(STARTER), help="config of the first 3 entities")
    parser.add_argument(
        "--no-variants", action="store_true", help="generated entities without variants"
    )
    args = parser.parse_args()
    config = load_config(args.config, env={})
    sources = feed_texts(args.feeds) if args.feeds else labelled_texts()
    items = make_items(sources, args.items)
    avg = sum(len(t) + len(x) for t, x in items) / len(items)
    print(
        f"{len(items)} items, {avg:,.0f} characters each on average; "
        f"CPU time, best of {args.repeat} runs"
    )
    print(f"{'entities':>8} {'aliases':>8} {'build ms':>9} {'ms/item':>8} {'hits/item':>9}")
    base = None
    for n in (3, 1_000, 10_000):
        entities = make_watchlist(n, config.entities)
        if args.no_variants:
            entities = [dataclasses.replace(e, variants=False) for e in entities]
        aliases = sum(len(e.aliases) + len(e.exact_aliases) + len(e.weak_aliases) for e in entities)
        started = time.perf_counter()
        matcher = Matcher(entities, config.topics)
        build = time.perf_counter() - started
        matcher.match(*items[0])  # normalisation tables are built on first use
        per_item = time_matcher(matcher, items, args.repeat)
        hits = sum(len(matcher.match(t, x)) for t, x in items) / len(items)
        base = base or per_item
        print(
            f"{n:>8,} {aliases:>8,} {build * 1000:>9.1f} {per_item * 1000:>8.3f} {hits:>9.2f}"
            f"   ({per_item / base:.2f}x the 3-entity cost)"
        )


if __name__ == "__main__":
    main()
