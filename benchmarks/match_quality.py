"""Precision and recall of the matcher on the labelled set, per entity and overall.

The set (tests/data/labelled.jsonl) holds items in English, French, German, Spanish and
Italian, each a title, an HTML summary and the entities a careful reader would tag,
with hard negatives (the mistral wind, Mistral-class ships, OpenAIRE, domain names...)
and hard positives (elisions, possessives, hashtags, soft hyphens, tickers...).

Run: .venv/bin/python benchmarks/match_quality.py [--config watcher/starter.toml]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

from watcher.config import load_config
from watcher.pipeline.match import Matcher
from watcher.text.clean import html_to_text

ROOT = Path(__file__).resolve().parent.parent
LABELLED = ROOT / "tests" / "data" / "labelled.jsonl"
STARTER = ROOT / "watcher" / "starter.toml"


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
    overall: Counts = field(default_factory=Counts)
    misses: list[str] = field(default_factory=list)  # one line per wrong item


def score(matcher: Matcher, items: list[dict]) -> Scores:
    """Compare what the matcher finds in each item with its expected entities."""
    scores = Scores({e.name: Counts() for e in matcher.entities})
    for item in items:
        found = {m.entity for m in matcher.match(item["title"], html_to_text(item["html"]))}
        expected = set(item["expected"])
        for name in found | expected:
            counts = scores.per_entity.setdefault(name, Counts())
            if name in found and name in expected:
                counts.tp += 1
                scores.overall.tp += 1
            elif name in found:
                counts.fp += 1
                scores.overall.fp += 1
                scores.misses.append(
                    f"false positive {name}: #{item['id']} [{item['lang']}] {item['title']!r} ({item['note']})"
                )
            else:
                counts.fn += 1
                scores.overall.fn += 1
                scores.misses.append(
                    f"missed {name}: #{item['id']} [{item['lang']}] {item['title']!r} ({item['note']})"
                )
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(STARTER), help="config whose entities to use")
    args = parser.parse_args()
    config = load_config(args.config, env={})
    items = load_labelled()
    scores = score(Matcher(config.entities, config.topics), items)
    langs = sorted({i["lang"] for i in items})
    negatives = sum(1 for i in items if not i["expected"])
    print(f"{len(items)} items ({', '.join(langs)}), {negatives} with no entity")
    print(f"{'entity':<14} {'precision':>9} {'recall':>7}   tp  fp  fn")
    rows = [*scores.per_entity.items(), ("overall", scores.overall)]
    for name, c in rows:
        print(f"{name:<14} {c.precision:>9.3f} {c.recall:>7.3f} {c.tp:>4} {c.fp:>3} {c.fn:>3}")
    print("misses:" if scores.misses else "misses: none")
    for line in scores.misses:
        print("  " + line)


if __name__ == "__main__":
    main()
