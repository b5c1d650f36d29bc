"""Polls and alerts per second: one daemon on SQLite, one and three daemons on PostgreSQL.

A feed farm (its own process) serves --feeds feeds on loopback and receives the alerts
(apprise json://). In the "busy" mode every request of a feed shows one new item naming a
watched company: each poll stores an item, a hit and its evidence, and queues an alert. In
the "items" mode each poll shows one new item naming nobody (stored, no hit). In the
"quiet" mode every poll is a 304 (what most polls are): polling and coordinating alone.
Every feed is due every --interval seconds, more than the daemons can do: the figures are
the most each set-up does on this machine. Over --seconds of steady state it counts the
farm's requests (polls) and alerts received, and the CPU seconds the daemons and the
PostgreSQL server used (from /proc). PostgreSQL is a throwaway server started as the
tests start theirs (tests/pgserver.py), with fsync off: the figures leave out the disk.

    .venv/bin/python benchmarks/cluster.py                    # all modes, three set-ups
    .venv/bin/python benchmarks/cluster.py --mode busy --feeds 200 --seconds 20

Figures depend on the machine's load: on a shared machine, read them as rough.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def feed_document(feed: int, version: int, who: str = "OpenAI") -> bytes:
    """RSS with the 10 latest items of a feed at `version`; each names `who`."""
    items = "".join(
        f"<item><title>Notice {feed}-{n} about {who}</title>"
        f"<link>https://farm.example/{feed}/{n}</link><guid>{feed}-{n}</guid>"
        f"<description>{'Decision concerning a supplier. ' * 30}</description></item>"
        for n in range(max(0, version - 9), version + 1)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {feed}</title><link>https://farm.example/</link><description>x</description>"
        f"{items}</channel></rss>"
    ).encode()


def serve_farm(port_file: str, mode: str) -> None:
    """The farm process: GET /feed/N (new each request, or 304), POST /hook, GET /stats."""
    counts = {"polls": 0, "alerts": 0}
    versions: dict[int, int] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _reply(self, status: int, body: bytes = b"", etag: str = "") -> None:
            self.send_response(status)
            if etag:
                self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/stats":
                with lock:
                    self._reply(200, json.dumps(counts).encode())
                return
            feed = int(self.path.rsplit("/", 1)[-1])
            with lock:
                counts["polls"] += 1
                version = versions[feed] = versions.get(feed, 0) + (mode != "quiet")
            etag = f'"{feed}-{version}"'
            if self.headers.get("If-None-Match") == etag:
                self._reply(304, etag=etag)
                return
            who = "OpenAI" if mode == "busy" else "a supplier"
            self._reply(200, feed_document(feed, version, who), etag)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                counts["alerts"] += 1
            self._reply(200)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    Path(port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def children(pid: int) -> list[int]:
    """`pid` and its child processes (PostgreSQL's backends)."""
    found = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry))
    return found


def database_activity(url: str | None) -> dict[str, float]:
    """PostgreSQL's counters for the database: sessions opened, commits, rows written."""
    if not url:
        return {"sessions": 0, "commits": 0, "rows": 0, "bytes": 0, "items": 0}
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT sessions, xact_commit, tup_inserted + tup_updated + tup_deleted, "
            "pg_database_size(current_database()), (SELECT COUNT(*) FROM items) "
            "FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return {"sessions": row[0], "commits": row[1], "rows": row[2], "bytes": row[3], "items": row[4]}


def stats(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as resp:
        return dict(json.load(resp))


def run(
    label: str,
    storage: str,
    daemons: int,
    args: argparse.Namespace,
    farm_port: int,
    work: Path,
    pg_pid: int | None,
) -> None:
    config = work / f"{label.replace(' ', '-')}.toml"
    lines = [
        storage,
        f'[defaults]\ntimeout = "30s"\nmin_interval = "{args.interval}s"\nper_host = 1000\n',
        '[[entities]]\nname = "OpenAI"\naliases = ["OpenAI"]\n',
        f'[[channels]]\nname = "hook"\nurl = "json://127.0.0.1:{farm_port}/hook"\n',
    ]
    lines += [
        f'[[sources]]\nname = "feed{i}"\nurl = "http://127.0.0.1:{farm_port}/feed/{i}"\n'
        f'interval = "{args.interval}s"\n'
        for i in range(args.feeds)
    ]
    config.write_text("\n".join(lines))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "watcher",
                "--config",
                str(config),
                "--log-level",
                "error",
                "run",
                "--node",
                f"bench{n}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(work / f"{label}-{n}.log").open("w"),
        )
        for n in range(daemons)
    ]
    try:
        # Warm up: every feed polled twice (the first poll of a source alerts nobody).
        start = stats(farm_port)
        while stats(farm_port)["polls"] - start["polls"] < 2 * args.feeds:
            time.sleep(0.5)
        time.sleep(2)
        pids = [p.pid for p in procs]
        server = children(pg_pid) if pg_pid and "postgresql" in storage else []
        url = storage.split('"')[1] if "postgresql" in storage else None
        db0 = database_activity(url)
        before, t0 = stats(farm_port), time.monotonic()
        cpu0, pg0 = cpu_seconds(pids), cpu_seconds(server)
        time.sleep(args.seconds)
        after, elapsed = stats(farm_port), time.monotonic() - t0
        cpu, pg = cpu_seconds(pids) - cpu0, cpu_seconds(server) - pg0
        db = {k: (v - db0[k]) / elapsed for k, v in database_activity(url).items()}
        per_item = db["bytes"] / db["items"] if db["items"] else 0
        polls = (after["polls"] - before["polls"]) / elapsed
        alerts = (after["alerts"] - before["alerts"]) / elapsed
        print(
            f"{label:<24} {args.mode:<5} polls/s {polls:7.1f}  alerts/s {alerts:7.1f}  "
            f"daemon CPU {cpu / elapsed:4.2f} cores ({1000 * cpu / max(polls * elapsed, 1):5.2f} "
            f"ms/poll)  PostgreSQL CPU {pg / elapsed:4.2f} cores, {db['commits']:5.0f} "
            f"transactions/s, {db['rows']:5.0f} rows written/s, {db['sessions']:.1f} sessions/s"
            + (f", {per_item / 1000:.1f} kB per new item" if per_item else ""),
            flush=True,
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of a measurement")
    parser.add_argument("--mode", choices=["busy", "items", "quiet", "all"], default="all")
    parser.add_argument("--serve-farm", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_farm:
        serve_farm(*args.serve_farm)
        return

    sys.path.insert(0, str(ROOT / "tests"))
    from pgserver import PostgresServer

    server = PostgresServer()
    work = Path(tempfile.mkdtemp(prefix="regwatch-cluster-"))
    print(f"{args.feeds} feeds due every {args.interval:g}s; {os.cpu_count()} cores; in {work}")
    try:
        for mode in ("busy", "items", "quiet") if args.mode == "all" else (args.mode,):
            args.mode = mode
            port_file = work / f"farm-{mode}.port"
            farm = subprocess.Popen(
                [sys.executable, __file__, "--serve-farm", str(port_file), mode],
                stdout=subprocess.DEVNULL,
            )
            while not port_file.exists() or not port_file.read_text():
                time.sleep(0.05)
            port = int(port_file.read_text())
            for label, daemons in (
                ("sqlite, 1 daemon", 1),
                ("postgresql, 1 daemon", 1),
                ("postgresql, 3 daemons", 3),
            ):
                if label.startswith("sqlite"):
                    storage = f'[storage]\npath = "{work / (mode + ".db")}"\n'
                    pg_pid = None
                else:
                    url = server.create_database(f"bench_{mode}_{daemons}", migrated=False)
                    pg_pid = int((server.data / "postmaster.pid").read_text().split()[0])
                    storage = f'[storage]\nurl = "{url}"\n'
                run(label, storage, daemons, args, port, work, pg_pid)
            farm.terminate()
            farm.wait(10)
    finally:
        server.close()


if __name__ == "__main__":
    main()
