"""Delivery figures: hits saved with clustering, and alerts sent to a local receiver.

Run: .venv/bin/python benchmarks/delivery.py [--hits 1000] [--sends 200]
Prints (1) the cost of saving hits with story clustering against a window already holding
many stories (the near-identical-title scan is the expensive part) and (2) the throughput
of the outbox through apprise to a loopback json:// receiver, one channel and four.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import string
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from watcher.alert.outbox import Dispatcher
from watcher.config import Channel, Delivery
from watcher.model import Item, Mention
from watcher.store import Store


def title(i: int) -> str:
    """A distinct headline-like title (random words, seeded by `i`), so few items cluster."""
    rng = random.Random(i)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(7)]
    return f"Microsoft {' '.join(words)}"


def save_hits(store: Store, n: int, channels: list[str], start: int = 0) -> float:
    state = store.source_state("bench", "https://bench.example/feed")
    state.first_poll_at = "2024-01-01T00:00:00+00:00"
    began = time.perf_counter()
    for i in range(start, start + n):
        item = Item(
            key=f"k{i}",
            title=title(i),
            link=f"https://bench.example/{i}?utm_source=x",
            published="2024-03-01T10:00:00+00:00",
            text=f"Microsoft text {i}",
        )
        hit = Mention("Microsoft", "Microsoft", "title", 0, 9, item.title)
        store.save_poll(
            state, [item], [(item, hit)], lambda m: channels, alert=True, http_status=200
        )
    return time.perf_counter() - began


class Sink:
    def __init__(self) -> None:
        self.count = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                sink.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"json://127.0.0.1:{self.httpd.server_address[1]}/hook"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--sends", type=int, default=200)
    args = parser.parse_args()
    from apprise.plugins.base import NotifyBase

    NotifyBase.request_rate_per_sec = 0
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        first = save_hits(store, args.hits, [])
        more = save_hits(store, 200, [], start=args.hits)
        print(
            f"save_poll with clustering: {args.hits} hits in {first:.2f}s "
            f"({first / args.hits * 1000:.2f} ms/hit); 200 more with {args.hits} stories in "
            f"the window: {more / 200 * 1000:.2f} ms/hit"
        )
        for n_channels in (1, 4):
            sinks = [Sink() for _ in range(n_channels)]
            channels = tuple(Channel(f"c{i}", s.url) for i, s in enumerate(sinks))
            per = args.sends // n_channels
            save_hits(store, per, [c.name for c in channels], start=10_000 * (n_channels + 1))
            began = time.perf_counter()
            sent, failed = asyncio.run(Dispatcher(store, channels, Delivery()).drain())
            took = time.perf_counter() - began
            print(
                f"dispatch to {n_channels} channel(s): {sent} sent, {failed} failed in "
                f"{took:.2f}s ({sent / took:.0f} alerts/s)"
            )
            for s in sinks:
                s.httpd.shutdown()


if __name__ == "__main__":
    main()
