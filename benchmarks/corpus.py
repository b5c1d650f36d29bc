"""Poll every file of a corpus of real feeds as a source, from a local server; print figures.

    .venv/bin/python benchmarks/corpus.py                    # ../shared/corpora, each folder
    .venv/bin/python benchmarks/corpus.py path/to/folder ...  # chosen folders

Each file is served at its own URL with the HTTP headers its leading comment asks for
(feedparser's corpus writes ``Header: Content-type: ...`` lines there). The report gives,
per folder: files, sources ok, items stored, hits, sources in error grouped by reason, and
crashes (an unexpected exception in regwatch: must be 0). Timings are wall-clock, noisy on
a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from watcher.config import Config, Defaults, Entity, Selectors, Source
from watcher.model import PollResult
from watcher.pipeline.poll import poller_session
from watcher.store import Store

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = ROOT / ".." / "shared" / "corpora"
SKIP_NAMES = re.compile(r"^(README|LICENSE|COPYING)", re.I)
SKIP_SUFFIXES = {".md", ".txt", ".py", ".rs", ".toml", ".yml", ".yaml"}
CTYPES = {".json": "application/json", ".html": "text/html"}
HEADER = re.compile(rb"^\s*Header:\s*([A-Za-z-]+):[ \t]*(.*?)\s*$", re.M)
# With --kind html, the feeds are read as web pages through these selectors: the html kind
# then meets the corpus's broken encodings and sanitiser attacks too.
FEED_AS_HTML = Selectors(
    item="item, entry",
    title="title",
    link="link[href], a[href]",
    date="pubdate, published, updated, dc\\:date",
    summary="description, summary, content",
)
ENTITIES = (
    Entity("Microsoft", ("Microsoft",)),
    Entity("Mistral AI", ("Mistral AI",)),
    Entity("OpenAI", ("OpenAI", "ChatGPT")),
)


def corpus_files(folder: Path) -> list[Path]:
    """Every file of the folder that could be a feed (documentation files left out)."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not SKIP_NAMES.match(p.name) and p.suffix.lower() not in SKIP_SUFFIXES
    )


def headers_for(path: Path, body: bytes) -> list[tuple[str, str]]:
    """The headers a file's leading comment asks for, else a Content-Type for its suffix."""
    head = body[:2000]
    comment = head[: head.find(b"-->")] if head.lstrip().startswith(b"<!--") else b""
    asked = [
        (m.group(1).decode("latin-1"), m.group(2).decode("latin-1"))
        for m in HEADER.finditer(comment)
    ]
    if not any(name.lower() == "content-type" for name, _ in asked):
        asked.append(("Content-Type", CTYPES.get(path.suffix.lower(), "text/xml")))
    return asked


def serve(files: list[Path]) -> ThreadingHTTPServer:
    """A local server answering /<index> with files[index]."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            try:
                path = files[int(self.path.strip("/"))]
            except (ValueError, IndexError):
                self.send_error(404)
                return
            body = path.read_bytes()
            self.send_response(200)
            for name, value in headers_for(path, body):
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def reason(error: str) -> str:
    """An error message with its specifics removed, to group sources by cause."""
    text = re.sub(r"<class '([^']+)'>", r"\1", error)
    text = re.sub(r"\(?line \d+, column \d+\)?|\d+", "N", text)
    text = re.sub(r"https?://\S+", "URL", text)
    return text[:110]


async def poll_corpus(files: list[Path], db: Path, port: int, kind: str) -> list[PollResult]:
    defaults = Defaults(timeout=30.0, concurrency=16, per_host=16, min_interval=1.0)
    sources = tuple(
        Source(
            name=f"{i:05d} {p.name}",
            url=f"http://127.0.0.1:{port}/{i}",
            kind=kind,
            selectors=FEED_AS_HTML if kind == "html" else Selectors(),
        )
        for i, p in enumerate(files)
    )
    config = Config(
        path=db.with_suffix(".toml"),
        storage_path=db,
        defaults=defaults,
        sources=sources,
        entities=ENTITIES,
    )
    store = Store(db)
    try:
        async with poller_session(config, store) as poller:
            return await poller.poll_all()
    finally:
        store.close()


def run_folder(folder: Path, show: int, kind: str = "feed") -> dict[str, int]:
    """Poll one folder's files and print its report; returns its figures."""
    files = corpus_files(folder)
    server = serve(files)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "corpus.db"
        crashes = 0
        try:
            results = asyncio.run(poll_corpus(files, db, server.server_address[1], kind))
        except Exception as exc:  # noqa: BLE001 - a crash of the whole run is reported, not raised
            print(f"  CRASH of the whole run: {type(exc).__name__}: {exc}")
            results, crashes = [], len(files)
        seconds = time.perf_counter() - started
        store = Store(db)
        items = store.engine.execute("SELECT COUNT(*) FROM items").rows[0][0]
        hits = store.engine.execute("SELECT COUNT(*) FROM hits").rows[0][0]
        store.close()
    server.shutdown()
    server.server_close()
    crashes += sum(r.crashed for r in results)
    suffix = {f"{i:05d} {p.name}": p.suffix.lower() or "(none)" for i, p in enumerate(files)}
    errors = Counter(
        f"[{suffix[r.source]}] {reason(r.error or '')}"
        for r in results
        if r.error and not r.crashed
    )
    figures = {
        "files": len(files),
        "ok": sum(r.status == "ok" for r in results),
        "error": sum(errors.values()),
        "crashes": crashes,
        "items": items,
        "hits": hits,
    }
    print(f"\n== {folder} (kind = {kind})")
    print(
        f"  files {figures['files']:,}  sources ok {figures['ok']:,}  in error "
        f"{figures['error']:,}  crashes {crashes}  items stored {items:,}  hits {hits:,}  "
        f"({seconds:.1f}s, {len(files) / max(seconds, 1e-9):.0f} files/s; noisy)"
    )
    if errors:
        print("  sources in error, by reason:")
        for text, count in errors.most_common(show):
            print(f"    {count:5d}  {text}")
        rest = sum(errors.values()) - sum(c for _, c in errors.most_common(show))
        if rest:
            print(f"    {rest:5d}  (other reasons)")
    for r in results:
        if r.crashed:
            print(f"  CRASH {r.source}: {r.error}")
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the corpus benchmark; exit 1 if regwatch crashed on any file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "folders",
        nargs="*",
        type=Path,
        help="corpus folders (default: each folder of ../shared/corpora)",
    )
    parser.add_argument(
        "--kind", choices=["feed", "html"], default="feed", help="poll the files as this kind"
    )
    parser.add_argument("--reasons", type=int, default=12, help="error reasons shown per folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # errors are counted below, not logged one by one
    folders = args.folders or sorted(p for p in DEFAULT_CORPORA.resolve().iterdir() if p.is_dir())
    totals: Counter[str] = Counter()
    for folder in folders:
        if not folder.is_dir():
            print(f"error: {folder} is not a folder", file=sys.stderr)
            return 2
        totals.update(run_folder(folder, args.reasons, args.kind))
    print(
        f"\nTOTAL files {totals['files']:,}  ok {totals['ok']:,}  in error {totals['error']:,}  "
        f"crashes {totals['crashes']}  items stored {totals['items']:,}  hits {totals['hits']:,}"
    )
    return 1 if totals["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
