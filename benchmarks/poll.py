"""Wall time of `regwatch poll` on N local feeds of M items each: first poll, then second.

    .venv/bin/python benchmarks/poll.py [--feeds 300] [--items 50]

The feeds are served from a local HTTP server with ETags; the second poll should cost a
conditional GET (304) per feed. A third poll serves new bodies without validators to
time the "identical body, no parse" path, and a fourth adds one new item per feed. Last,
what the evidence of the hits costs in the database (bytes per hit).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

WORDS = [
    "Commission",
    "competition",
    "merger",
    "digital",
    "markets",
    "regulation",
    "investigation",
    "partnership",
    "cloud",
    "software",
    "model",
    "fine",
    "decision",
    "market",
    "access",
    "data",
    "protection",
    "authority",
]


def feed(n: int, items: int, extra: int = 0) -> bytes:
    parts = [
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {n}</title><link>https://feed{n}.example/</link><description>d</description>"
    ]
    for i in range(items + extra):
        words = " ".join(WORDS[(n + i + k) % len(WORDS)] for k in range(60))
        who = ("Microsoft", "OpenAI", "Mistral AI", "Contoso")[(n + i) % 4]
        html = f"<p>{words}</p><p>The <b>{who}</b> case. {words}</p>"
        parts.append(
            f"<item><title>{who} item {i} of feed {n}</title>"
            f"<link>https://feed{n}.example/{i}</link><guid>f{n}-{i}</guid>"
            f"<pubDate>Mon, 26 Feb 2024 10:00:00 +0000</pubDate>"
            f"<description>{escape(html)}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


class Farm:
    def __init__(self, feeds: int, items: int) -> None:
        self.bodies = {f"/f{n}.xml": feed(n, items) for n in range(feeds)}
        self.etags = True
        farm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:
                body = farm.bodies[self.path]
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                if farm.etags and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                if farm.etags:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 1024
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def timed_poll(config: Path) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "watcher", "--config", str(config), "--log-level", "error", "poll"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return time.perf_counter() - started, out.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--items", type=int, default=50)
    args = parser.parse_args()
    farm = Farm(args.feeds, args.items)
    folder = Path(tempfile.mkdtemp(prefix="regwatch-bench-"))
    lines = ['[storage]\npath = "bench.db"\n[defaults]\nconcurrency = 50\ntimeout = "60s"\n']
    for n in range(args.feeds):
        lines.append(f'[[sources]]\nname = "f{n}"\nurl = "http://127.0.0.1:{farm.port}/f{n}.xml"\n')
    for name in ("Microsoft", "OpenAI", "Mistral AI"):
        lines.append(f'[[entities]]\nname = "{name}"\naliases = ["{name}"]\n')
    config = folder / "regwatch.toml"
    config.write_text("\n".join(lines))
    size = sum(len(b) for b in farm.bodies.values())
    print(
        f"{args.feeds} feeds x {args.items} items ({size / 1e6:.1f} MB of XML), database {folder}"
    )
    first, summary = timed_poll(config)
    print(f"first poll (everything new):          {first:6.2f} s   {summary}")
    second, summary = timed_poll(config)
    print(f"second poll (304 Not Modified):       {second:6.2f} s   {summary}")
    farm.etags = False
    third, summary = timed_poll(config)
    print(f"third poll (no ETag, same bodies):    {third:6.2f} s   {summary}")
    farm.bodies = {f"/f{n}.xml": feed(n, args.items, extra=1) for n in range(args.feeds)}
    fourth, summary = timed_poll(config)
    print(f"fourth poll (one new item per feed):  {fourth:6.2f} s   {summary}")
    print("(each figure includes about 0.5 s of Python start-up and imports)")
    print(evidence_figures(folder / "bench.db"))


# The evidence's tables and their indexes (store/evidence.py, migration 070_evidence).
EVIDENCE = (
    "evidence_bodies",
    "captures",
    "hit_captures",
    "hit_evidence",
    "captures_sha256",
    "hit_captures_capture",
    "sqlite_autoindex_evidence_bodies_1",
    "sqlite_autoindex_hit_captures_1",
)


def evidence_figures(db: Path) -> str:
    """What keeping evidence costs: bytes on disk per hit (SQLite's dbstat, pages counted)."""
    import sqlite3

    from watcher.store import Store

    store = Store(db, readonly=True)
    t = store.evidence_totals()
    store.close()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    marks = ",".join("?" * len(EVIDENCE))
    on_disk = conn.execute(
        f"SELECT SUM(pgsize) FROM dbstat WHERE name IN ({marks})", EVIDENCE
    ).fetchone()[0]
    total = conn.execute("SELECT SUM(pgsize) FROM dbstat").fetchone()[0]
    conn.close()
    hits = max(t["hits"], 1)
    return (
        f"evidence: {t['hits']} hits, {t['captures']} captures, {t['bodies']} distinct bodies, "
        f"{t['body_bytes'] / 1e6:.1f} MB as received, {t['stored_bytes'] / 1e6:.1f} MB "
        f"compressed; its tables take {on_disk / 1e6:.1f} MB of the database's "
        f"{total / 1e6:.1f} MB: {on_disk / hits:,.0f} bytes per hit"
    )


if __name__ == "__main__":
    main()
