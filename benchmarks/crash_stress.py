"""kill -9 stress: a `regwatch run` daemon killed at random moments, restarted, counted.

Run: .venv/bin/python benchmarks/crash_stress.py [--kills 20] [--seed 1]
A local feed grows by 10 items (15 hits: every other item names two entities, and is one
message naming both) at every fetch; a local json:// receiver answers after a random 0-50 ms
and counts the messages per hit. The daemon (1 s poll interval) is
killed with SIGKILL after a random 0.8-4 s, --kills times, then left running until every
delivery is sent (the feed stops growing for that last run). Prints kills, items, hits,
messages, duplicate messages (a message sent again), duplicate hits (hits in them) and losses.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape


def title(i: int) -> str:
    return f"Microsoft bulletin {i}" if i % 2 else f"Microsoft and Mistral AI bulletin {i}"


class Farm:
    """The growing feed (GET) and the counting receiver (POST) on one loopback server."""

    def __init__(self, rng: random.Random) -> None:
        self.items = 0
        self.frozen = False  # no more new items: the last run only has to catch up
        self.received: collections.Counter[int] = collections.Counter()
        self.sends: collections.Counter[str] = collections.Counter()  # per message (its hit ids)
        self.messages = 0
        self.lock = threading.Lock()
        farm = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with farm.lock:
                    # Frozen: no more growth, once there is something to deliver at all.
                    farm.items += 0 if farm.frozen and farm.items else 10
                    count = farm.items
                entries = "".join(
                    f"<item><title>{escape(title(i))}</title>"
                    f"<link>https://bench.example/{i}</link><guid>b{i}</guid></item>"
                    for i in range(count)
                )
                self._reply(
                    f'<?xml version="1.0"?><rss version="2.0"><channel><title>b</title>'
                    f"{entries}</channel></rss>".encode()
                )

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                # "regwatch hit #4" or, an item naming several entities, "regwatch hit #4, #5"
                found = re.search(r"regwatch hit (#\d+(?:, #\d+)*)", body.get("message", ""))
                with farm.lock:
                    farm.messages += 1
                    for hit in re.findall(r"\d+", found.group(1)) if found else []:
                        farm.received[int(hit)] += 1
                    if found:
                        farm.sends[found.group(1)] += 1
                time.sleep(rng.uniform(0, 0.05))
                self._reply(b"")

            def _reply(self, body: bytes) -> None:
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the daemon was killed meanwhile
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    farm = Farm(rng)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "regwatch.toml"
        config.write_text(
            f"""[storage]
path = "regwatch.db"
[defaults]
interval = "1s"
min_interval = "1s"
[[entities]]
name = "Microsoft"
aliases = ["Microsoft"]
[[entities]]
name = "Mistral AI"
aliases = ["Mistral AI"]
[[sources]]
name = "bench"
url = "http://127.0.0.1:{farm.port}/feed.xml"
alert_first_poll = true
[[channels]]
name = "hook"
url = "json://127.0.0.1:{farm.port}/hook"
""",
            encoding="utf-8",
        )
        command = [sys.executable, "-m", "watcher", "--config", str(config), "run"]
        for _ in range(args.kills):
            proc = subprocess.Popen(command, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.8, 4.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        farm.frozen = True
        proc = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        db = Path(tmp) / "regwatch.db"

        def unsent() -> int:
            with sqlite3.connect(db) as conn:
                return int(
                    conn.execute(
                        "SELECT COUNT(*) FROM deliveries WHERE status != 'sent'"
                    ).fetchone()[0]
                )

        def caught_up() -> bool:
            """Every item of the (frozen) feed stored, and every delivery sent."""
            with sqlite3.connect(db) as conn:
                try:
                    stored = conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
                except sqlite3.OperationalError:  # not created yet
                    return False
            return bool(stored >= farm.items and not unsent())

        deadline = time.monotonic() + 120
        while not caught_up() and time.monotonic() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)  # a clean stop: nothing in flight is dropped
        proc.wait(30)
        with sqlite3.connect(db) as conn:
            hits = {r[0] for r in conn.execute("SELECT id FROM hits")}
            items = conn.execute("SELECT COUNT(DISTINCT item_id) FROM hits").fetchone()[0]
        missing = hits - set(farm.received)
        duplicates = sum(n - 1 for n in farm.received.values())
        again = sum(n - 1 for n in farm.sends.values())
        print(
            f"kills={args.kills} items={items} hits={len(hits)} messages={farm.messages} "
            f"duplicate_messages={again} duplicate_hits={duplicates} losses={len(missing)} "
            f"unsent={unsent()}"
        )


if __name__ == "__main__":
    main()
