"""Soak: the real daemon against a local farm of changing feeds, in accelerated time.

Starts a feed farm (its own process: N feeds whose items change every few requests,
ETags honoured, a webhook for alerts) and `python -m watcher run` with every source
polled every --interval seconds, then samples the daemon's RSS, open file descriptors
and threads from /proc until --cycles poll cycles (N polls each) are done.

    .venv/bin/python benchmarks/soak.py                     # 200 feeds, 1,000 cycles
    .venv/bin/python benchmarks/soak.py --feeds 50 --cycles 100 --interval 0.2

Figures depend on the machine's load: on a shared machine, read them as rough.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

WINDOW = 20  # items per feed document
CHANGE_EVERY = 3  # a feed gains one item every 3 requests (the other 2 get a 304)


def feed_document(feed: int, version: int) -> bytes:
    """RSS with the WINDOW latest items of a feed at `version`; every 10th names OpenAI."""
    items = []
    for n in range(max(0, version - WINDOW + 1), version + 1):
        who = "OpenAI" if n % 10 == 0 else "a supplier"
        items.append(
            f"<item><title>Notice {feed}-{n} about {who}</title>"
            f"<link>https://farm.example/{feed}/{n}</link><guid>{feed}-{n}</guid>"
            f"<description>{escape(('<p>Decision concerning ' + who + '.</p>') * 20)}</description>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {feed}</title><link>https://farm.example/</link><description>x</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def serve_farm(port_file: str) -> None:
    """The farm process: /feed/N changes every CHANGE_EVERY requests; POST /hook answers 200."""
    counts: dict[int, int] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            feed = int(self.path.rsplit("/", 1)[-1])
            with lock:
                counts[feed] = counts.get(feed, 0) + 1
                version = counts[feed] // CHANGE_EVERY
            etag = '"' + hashlib.sha1(f"{feed}:{version}".encode()).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = feed_document(feed, version)
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Path(port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample(pid: int) -> dict[str, float]:
    """RSS (MB), open file descriptors and threads of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return {"rss_mb": rss, "fds": len(os.listdir(f"/proc/{pid}/fd")), "threads": threads}


def polls_done(port: int) -> int:
    """Total polls so far, read from the daemon's /metrics."""
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    return int(
        sum(float(m) for m in re.findall(r"^regwatch_polls_total\{[^}]*\} (\S+)$", text, re.M))
    )


def show(label: str, s: dict[str, float], polls: int, feeds: int) -> None:
    print(
        f"{label:<26} cycles {polls / feeds:7.1f}  RSS {s['rss_mb']:7.1f} MB  "
        f"fds {s['fds']:4.0f}  threads {s['threads']:3.0f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls")
    parser.add_argument("--warmup", type=int, default=10, help="cycles before the baseline")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="regwatch-soak-"))
    port_file = work / "farm.port"
    farm = subprocess.Popen(
        [sys.executable, __file__, "--serve-farm", str(port_file)], stdout=subprocess.DEVNULL
    )
    while not port_file.exists() or not port_file.read_text():
        time.sleep(0.05)
    farm_port = int(port_file.read_text())
    metrics_port = free_port()
    config = work / "regwatch.toml"
    lines = [
        f'[storage]\npath = "soak.db"\n[http]\nlisten = "127.0.0.1:{metrics_port}"\n',
        # Accelerated time: below the politeness floor, every feed on one host at once.
        f'[defaults]\ntimeout = "30s"\nalert_first_poll = true\nmin_interval = "{args.interval}s"\n'
        f"per_host = {args.feeds}\n",
        '[[entities]]\nname = "OpenAI"\naliases = ["OpenAI"]\n',
        f'[[channels]]\nname = "hook"\nurl = "json://127.0.0.1:{farm_port}/hook"\n',
    ]
    for i in range(args.feeds):
        lines.append(
            f'[[sources]]\nname = "feed{i}"\nurl = "http://127.0.0.1:{farm_port}/feed/{i}"\n'
            f'interval = "{args.interval}s"\n'
        )
    config.write_text("\n".join(lines))
    log = (work / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "watcher", "--config", str(config), "--log-level", "warning", "run"],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    print(
        f"soak: {args.feeds} feeds every {args.interval}s, {args.cycles} cycles; "
        f"daemon pid {daemon.pid}, files in {work}",
        flush=True,
    )
    started = time.monotonic()
    try:
        while True:
            try:
                polls = polls_done(metrics_port)
                break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.1)
        show("at start (ready)", sample(daemon.pid), polls, args.feeds)
        while (polls := polls_done(metrics_port)) < args.warmup * args.feeds:
            time.sleep(0.5)
        base = sample(daemon.pid)
        show(f"after {args.warmup} cycles (baseline)", base, polls, args.feeds)
        peak = dict(base)
        next_report = time.monotonic() + 60
        while (polls := polls_done(metrics_port)) < args.cycles * args.feeds:
            now = sample(daemon.pid)
            peak = {k: max(peak[k], v) for k, v in now.items()}
            if time.monotonic() > next_report:
                show("...", now, polls, args.feeds)
                next_report += 60
            time.sleep(1)
        end = sample(daemon.pid)
        show("at the end", end, polls, args.feeds)
        show("peak while running", peak, polls, args.feeds)
        elapsed = time.monotonic() - started
        print(f"{polls} polls in {elapsed:.0f}s ({polls / elapsed:.0f} polls/s)")
        for key in ("rss_mb", "fds", "threads"):
            growth = (end[key] - base[key]) / base[key] * 100
            print(f"growth of {key} from baseline to end: {growth:+.1f}%")
        db = work / "soak.db"
        wal = work / "soak.db-wal"
        print(
            f"database {db.stat().st_size / 1e6:.1f} MB, WAL {wal.stat().st_size / 1e6:.1f} MB"
            if wal.exists()
            else f"database {db.stat().st_size / 1e6:.1f} MB, no WAL"
        )
    finally:
        daemon.terminate()
        print(f"daemon exit status {daemon.wait(60)}")
        farm.terminate()
        farm.wait(10)
        log.close()
    text = (work / "daemon.log").read_text()
    warnings = text.count(" WARNING ")
    errors = text.count(" ERROR ")
    print(f"daemon log: {warnings} warnings, {errors} errors ({work / 'daemon.log'})")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-farm":
        serve_farm(sys.argv[2])
    else:
        main()
