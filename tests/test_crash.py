"""kill -9 at the worst moments: during a fetch, between saving and sending, during a send.

A real `regwatch poll` subprocess is killed and restarted; the receiver counts the messages
per hit: none may be missing, and only a message in flight at a kill may arrive twice.
"""

from __future__ import annotations

import collections
import contextlib
import re
import subprocess
import sys
import threading
from pathlib import Path

from conftest import rss, wait_until

from watcher.store import Store

N = 20


def start(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "watcher", "--config", str(config), "poll"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()  # SIGKILL: no cleanup, no atexit, no flush
    proc.wait(10)


def test_kill_9_loses_no_alert_and_duplicates_at_most_the_one_in_flight(
    feed_server, receiver, make_config, run_cli
):
    old = [{"title": "Old item", "link": "https://eu.example/old"}]
    feed_server.routes["/eu.xml"] = {"body": rss(old)}
    config = make_config({"eu": feed_server.url("/eu.xml")}, {"hook": receiver.json_url})
    assert run_cli(config, "poll").exit_code == 0  # first poll: stored, not alerted
    new = [
        {"title": f"Microsoft news {i:02d}", "link": f"https://eu.example/{i}"} for i in range(N)
    ]
    body = rss(new + old)
    kills = {"during fetch": 0, "during send": 0}

    # 1. Killed while the feed is being fetched: nothing was saved yet.
    release = threading.Event()

    def slow_feed(handler) -> None:
        release.wait(30)
        with contextlib.suppress(OSError):  # the poller was killed meanwhile
            handler._reply(200, body.encode(), "application/rss+xml")

    feed_server.routes["/eu.xml"] = {"handler": slow_feed}
    before = len(feed_server.hits_on("/eu.xml"))
    proc = start(config)
    wait_until(lambda: len(feed_server.hits_on("/eu.xml")) > before, 30, "the fetch")
    kill(proc)
    kills["during fetch"] += 1
    release.set()
    feed_server.routes["/eu.xml"] = {"body": body}

    # 2. and 3. Killed while the 1st, then the 8th message is being sent (the hits and their
    # deliveries were committed before the first send).
    for target in (1, 8):
        receiver.hold.clear()
        receiver.gate = lambda count, target=target: count == target
        proc = start(config)
        wait_until(lambda n=target: len(receiver.received) >= n, 30, f"message {target}")
        kill(proc)
        kills["during send"] += 1
        receiver.hold.set()

    # 4. A clean run sends what is still pending.
    receiver.gate = None
    proc = start(config)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()

    store = Store(config.parent / "regwatch.db", readonly=True)
    hit_ids = {h.id for h in store.query_hits(limit=None) if h.title != "Old item"}
    assert len(hit_ids) == N
    statuses = collections.Counter(
        r[0] for r in store.engine.execute("SELECT status FROM deliveries").rows
    )
    assert statuses == {"sent": N}

    per_hit = collections.Counter(
        int(m.group(1))
        for post in receiver.received
        for m in [re.search(r"regwatch hit #(\d+)", post.get("message", ""))]
        if m
    )
    missing = hit_ids - set(per_hit)
    duplicates = sum(n - 1 for n in per_hit.values())
    print(
        f"\nkill -9 figures: kills={sum(kills.values())} ({kills}), hits={N}, "
        f"messages={len(receiver.received)}, duplicates={duplicates}, losses={len(missing)}"
    )
    assert not missing
    assert max(per_hit.values()) <= 2
    assert duplicates <= kills["during send"]
