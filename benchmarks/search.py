"""Time full-text searches on a database of 100,000 generated items in five languages.

Usage: .venv/bin/python benchmarks/search.py [--items 100000] [--db PATH] [--runs 7] [--postgres]

Generates realistic press-release-like titles and texts (English, French, German, Spanish,
Italian, with accents and apostrophes), stores them through the FTS triggers the way polls
do, then times each kind of query (phrase, AND/OR/NOT, prefix, accent-folded) for
`regwatch search` (all items) and `regwatch hits --search` (hits only). Prints the median
and worst of several runs. Target: under 100 ms per search. With --postgres the same
items go into a throwaway PostgreSQL server (tests/pgserver.py) and the same queries run
through its tsvector index; "found" then counts the matches with PostgreSQL's own query.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from watcher.store import Store
from watcher.store.search import fts_query, tsquery

COMPANIES = ["Microsoft", "Mistral AI", "OpenAI", "Google", "Meta", "Amazon", "Apple", "Nvidia"]
LANGS = {
    "en": (
        ["The Commission", "The CMA", "The regulator", "Brussels", "The FTC"],
        [
            "opens an in-depth investigation into",
            "clears",
            "fines",
            "examines",
            "sends a statement of objections to",
            "approves the acquisition by",
        ],
        "merger control rules competition market digital gatekeeper investment partnership "
        "cloud services consumers fine antitrust review deal remedies commitments agriculture "
        "energy state aid subsidies farming transport banking telecoms data protection",
    ),
    "fr": (
        ["La Commission européenne", "L'Autorité de la concurrence", "Bruxelles", "La CNIL"],
        [
            "ouvre une enquête approfondie sur",
            "autorise",
            "inflige une amende à",
            "examine l'accord entre",
            "sanctionne",
        ],
        "contrôle des concentrations société générale marché numérique enquête concurrence "
        "règles européennes investissement partenariat consommateurs amende opération "
        "agriculture énergie aides d'État données personnelles régulateur décision été",
    ),
    "de": (
        ["Die Kommission", "Das Bundeskartellamt", "Die Behörde", "Brüssel"],
        [
            "prüft die Beteiligung von",
            "genehmigt",
            "verhängt eine Geldbuße gegen",
            "leitet ein Verfahren gegen",
            "untersucht",
        ],
        "Fusionskontrolle Wettbewerb Markt Kommission's Entscheidung Übernahme Beteiligung "
        "Verbraucher Geldbuße Prüfung Landwirtschaft Energie Beihilfen Datenschutz Plattform "
        "Wettbewerbshüter Verfahren Gatekeeper Künstliche Intelligenz",
    ),
    "es": (
        ["La Comisión", "La CNMC", "Bruselas", "El regulador"],
        ["investiga a", "autoriza", "multa a", "examina el acuerdo de", "abre un expediente a"],
        "control de concentraciones competencia mercado investigación inversión acuerdo "
        "consumidores multa agricultura energía ayudas de Estado protección de datos decisión",
    ),
    "it": (
        ["La Commissione", "L'Antitrust", "Bruxelles", "L'Autorità"],
        ["avvia un'indagine su", "autorizza", "multa", "esamina l'accordo di", "sanziona"],
        "controllo delle concentrazioni concorrenza mercato indagine investimento accordo "
        "consumatori sanzione agricoltura energia aiuti di Stato società tecnologica decisione",
    ),
}

QUERIES = [
    ("phrase", '"merger control"'),
    ("AND", "Microsoft investment"),
    ("OR", "Kommission OR Comisión OR Commissione"),
    ("NOT", "merger NOT agriculture"),
    ("prefix", "enquête*"),
    ("accent-folded", "societe generale"),
    ("German, folded", "Wettbewerbshuter"),
    ("common word", "commission"),
]


def make_item(rng: random.Random, n: int) -> tuple[str, str, str, str, str, str]:
    lang = rng.choice(list(LANGS))
    subjects, verbs, vocab = LANGS[lang]
    words = vocab.split()
    company = rng.choice(COMPANIES)
    title = f"{rng.choice(subjects)} {rng.choice(verbs)} {company}"
    sentences = []
    for _ in range(rng.randint(4, 9)):
        body = " ".join(rng.choice(words) for _ in range(rng.randint(8, 18)))
        sentences.append(f"{rng.choice(subjects)} {body} {rng.choice(COMPANIES)}.")
    day = f"20{rng.randint(22, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return (
        f"{lang}-news",
        f"k{n}",
        title,
        f"https://{lang}.example.org/{n}",
        day,
        " ".join(sentences),
    )


def build(path: Path | str, count: int) -> float:
    """Store `count` items (and a hit for one in ten); seconds taken."""
    rng = random.Random(5)
    store = Store(path)
    started = time.perf_counter()
    with store.writing("the benchmark's items"):
        for start in range(0, count, 5000):
            rows = [make_item(rng, n) for n in range(start, min(start + 5000, count))]
            store.engine.executemany(
                "INSERT INTO items (source, key, title, link, published, discovered, text) "
                "VALUES (?, ?, ?, ?, ?, '2024-12-31', ?)",
                rows,
            )
        store.engine.execute(
            'INSERT INTO hits (item_id, entity, matched, field, start, "end", snippet, created) '
            "SELECT id, 'Microsoft', 'Microsoft', 'title', 0, 9, title, '2024-12-31' "
            "FROM items WHERE id % 10 = 0"
        )
    seconds = time.perf_counter() - started
    store.close()
    return seconds


def timed(fn, runs: int) -> tuple[float, float, int]:
    times, found = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        found = len(fn())
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--db", type=Path, help="keep the database here (default: temporary)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--postgres", action="store_true", help="on a throwaway PostgreSQL")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    server = None
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from pgserver import PostgresServer

        server = PostgresServer()
        location: Path | str = server.create_database("bench", migrated=False)
    else:
        location = args.db or Path(folder.name) / "bench.db"
        if Path(location).exists():
            Path(location).unlink()
    try:
        search_benchmark(location, args)
    finally:
        if server:
            server.close()


def search_benchmark(location: Path | str, args: argparse.Namespace) -> None:
    seconds = build(location, args.items)
    store = Store(location, readonly=True)
    print(
        f"stored {args.items:,} items with the search index in {seconds:.1f} s; "
        f"database {store.size() / 1e6:.0f} MB"
    )
    print(
        f"{'query':<15} {'text':<40} {'search ms (median/max)':>24} {'found':>7} "
        f"{'hits --search ms':>18} {'hits':>5}"
    )
    worst = 0.0
    for kind, query in QUERIES:
        med, top, found = timed(lambda q=query: store.search_items(q, limit=20), args.runs)
        hmed, htop, hfound = timed(lambda q=query: store.query_hits(search=q, limit=50), args.runs)
        worst = max(worst, top, htop)
        if store.postgres:
            count = store.engine.execute(
                "SELECT COUNT(*) FROM items WHERE search @@ to_tsquery('regwatch', ?)",
                [tsquery(query)],
            ).rows[0][0]
        else:
            count = store.engine.execute(
                "SELECT COUNT(*) FROM items_fts WHERE items_fts MATCH ?", [fts_query(query)]
            ).rows[0][0]
        print(
            f"{kind:<15} {query:<40} {med:>11.1f} / {top:>6.1f} {count:>7} "
            f"{hmed:>9.1f} / {htop:>6.1f} {hfound:>5}"
        )
    print(f"slowest single run: {worst:.1f} ms (target < 100 ms)")


if __name__ == "__main__":
    main()
