"""Precision and recall of the matcher on the labelled set, per entity and per language.

The set (tests/data/labelled.jsonl) holds items in English, French, German, Spanish,
Italian and Portuguese, each a title, an HTML summary and the entities a careful reader
would tag, with hard negatives (the mistral wind, Mistral-class ships, "le chat" the cat,
OpenAIRE, generic "open AI", domain names...) and hard positives (elisions, possessives,
hashtags, soft hyphens, tickers, "Chat GPT", inflected context terms, broken encodings...).
Items with a `source` say where they come from: `corpus:<file>` is an excerpt of a real
feed in the shared corpora (its `note` says which part was written to complete it),
`written:<site>` a snippet written in that outlet's style, not quoted from it.

Run:
  .venv/bin/python benchmarks/match_quality.py                      # the starter config
  .venv/bin/python benchmarks/match_quality.py --config A --config B  # side by side
  .venv/bin/python benchmarks/match_quality.py --steps               # issue 14, change by change
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from watcher.config import Entity, load_config
from watcher.pipeline.match import Matcher
from watcher.text.clean import html_to_text

ROOT = Path(__file__).resolve().parent.parent
LABELLED = ROOT / "tests" / "data" / "labelled.jsonl"
STARTER = ROOT / "watcher" / "starter.toml"
BEFORE = ROOT / "benchmarks" / "quality" / "before.toml"
AFTER = ROOT / "benchmarks" / "quality" / "after.toml"


def load_labelled(path: Path = LABELLED) -> list[dict]:
    """The labelled items, one JSON object a line."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class Scores:
    per_entity: dict[str, Counts] = field(default_factory=dict)
    per_lang: dict[str, Counts] = field(default_factory=dict)
    overall: Counts = field(default_factory=Counts)
    misses: list[str] = field(default_factory=list)  # one line per wrong item


def plain_text(title: str, html: str) -> tuple[str, str]:
    """An item's title and text as matched without repair (before issue 14)."""
    return title, html_to_text(html)


def score(
    matcher: Matcher,
    items: list[dict],
    prepare: Callable[[str, str], tuple[str, str]] | None = None,
) -> Scores:
    """Compare what the matcher finds in each item with its expected entities.

    `prepare` turns an item's title and HTML into the title and text to match; by default
    the way a poll does it (cleaned, then repaired).
    """
    prepare = prepare or clean_item
    scores = Scores({e.name: Counts() for e in matcher.entities})
    for item in items:
        title, text = prepare(item["title"], item["html"])
        found = {m.entity for m in matcher.match(title, text)}
        expected = set(item["expected"])
        lang = scores.per_lang.setdefault(item["lang"], Counts())
        for name in found | expected:
            counts = scores.per_entity.setdefault(name, Counts())
            where = f"#{item['id']} [{item['lang']}] {item['title']!r} ({item['note']})"
            if name in found and name in expected:
                kind = "tp"
            elif name in found:
                kind = "fp"
                scores.misses.append(f"false positive {name}: {where}")
            else:
                kind = "fn"
                scores.misses.append(f"missed {name}: {where}")
            for c in (counts, lang, scores.overall):
                setattr(c, kind, getattr(c, kind) + 1)
    return scores


def clean_item(title: str, html: str) -> tuple[str, str]:
    """An item's title and text as a poll stores and matches them (cleaned, then repaired)."""
    from watcher.pipeline.work import clean_item as clean

    return clean(title, html)


def without_variants(entities: tuple[Entity, ...]) -> tuple[Entity, ...]:
    """The entities with generated variants turned off (`variants = false`)."""
    return tuple(dataclasses.replace(e, variants=False) for e in entities)


def without_exact_weak(entities: tuple[Entity, ...]) -> tuple[Entity, ...]:
    """The entities with `exact_weak_aliases` listed as plain `weak_aliases`."""
    return tuple(
        dataclasses.replace(
            e, weak_aliases=e.weak_aliases + e.exact_weak_aliases, exact_weak_aliases=()
        )
        for e in entities
    )


@dataclass
class Run:
    label: str
    scores: Scores


def run(
    label: str,
    config: Path,
    items: list[dict],
    variants: bool = True,
    repair: bool = True,
    exact_weak: bool = True,
) -> Run:
    """Score one config, with or without variants, encoding repair and exact weak aliases."""
    loaded = load_config(config, env={})
    entities = loaded.entities if variants else without_variants(loaded.entities)
    entities = entities if exact_weak else without_exact_weak(entities)
    prepare = clean_item if repair else plain_text
    return Run(label, score(Matcher(entities, loaded.topics), items, prepare))


def table(runs: list[Run], rows: Callable[[Scores], dict[str, Counts]], head: str) -> list[str]:
    """One line per row name, precision and recall of each run side by side."""
    names: list[str] = []
    for r in runs:
        names += [n for n in rows(r.scores) if n not in names]
    width = max(len(head), *(len(n) for n in names), len("overall"))
    cells = "".join(f"  {r.label[:22]:>22}" for r in runs)
    lines = [
        f"{head:<{width}}{cells}",
        f"{'':<{width}}" + "  P      R     tp fp fn".rjust(24) * len(runs),
    ]
    for name in [*names, "overall"]:
        line = f"{name:<{width}}"
        for r in runs:
            c = r.scores.overall if name == "overall" else rows(r.scores).get(name, Counts())
            line += f"  {c.precision:.3f} {c.recall:.3f} {c.tp:>4} {c.fp:>2} {c.fn:>2}".rjust(24)
        lines.append(line)
    return lines


def steps(items: list[dict]) -> list[Run]:
    """Issue 14 change by change: each run adds one change to the one before."""
    return [
        run("before (today)", BEFORE, items, variants=False, repair=False),
        run("+ repair encodings", BEFORE, items, variants=False),
        run("+ variants", BEFORE, items),
        run("+ * terms (after.toml)", AFTER, items, exact_weak=False),
        run("+ exact_weak_aliases", AFTER, items),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", action="append", help="config whose entities to use (repeat to compare)"
    )
    parser.add_argument("--no-variants", action="store_true", help="turn generated variants off")
    parser.add_argument("--no-repair", action="store_true", help="match text without repair")
    parser.add_argument("--steps", action="store_true", help="before.toml to after.toml, by change")
    parser.add_argument("--misses", action="store_true", help="list the misses of every run")
    args = parser.parse_args()
    items = load_labelled()
    if args.steps:
        runs = steps(items)
    else:
        runs = [
            run(Path(c).name, Path(c), items, not args.no_variants, not args.no_repair)
            for c in args.config or [str(STARTER)]
        ]
    langs = sorted({i["lang"] for i in items})
    negatives = sum(1 for i in items if not i["expected"])
    print(f"{len(items)} items ({', '.join(langs)}), {negatives} with no entity")
    print("\n".join(table(runs, lambda s: s.per_entity, "entity")))
    print()
    print("\n".join(table(runs, lambda s: s.per_lang, "language")))
    shown = runs if args.misses or len(runs) == 1 else runs[-1:]
    for r in shown:
        print(f"\nmisses ({r.label}):" if r.scores.misses else f"\nmisses ({r.label}): none")
        for line in r.scores.misses:
            print("  " + line)


if __name__ == "__main__":
    main()
