"""`regwatch run` as a real process: it polls, alerts, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from conftest import rss, wait_until

ITEMS = [
    {"title": "Microsoft and Mistral AI", "link": "https://news.example/1", "html": "<p>x</p>"}
]


def start(config, *args):
    """The CLI as a subprocess; its output lines collect in `proc.lines` as they come."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "watcher", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    proc.lines = []  # type: ignore[attr-defined]
    threading.Thread(target=lambda: proc.lines.extend(proc.stdout), daemon=True).start()
    return proc


def test_run_polls_prints_hits_and_stops_on_sigterm(feed_server, make_config):
    feed_server.routes["/eu.xml"] = {"body": rss(ITEMS)}
    config = make_config({"eu": feed_server.url("/eu.xml")})
    proc = start(config, "run")
    try:
        wait_until(
            lambda: any("HIT Mistral AI [eu]" in line for line in proc.lines),
            timeout=30,
            what="the daemon to print a hit",
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    output = wait_until(
        lambda: "".join(proc.lines) if "stopped" in "".join(proc.lines) else "",
        what="the last log line",
    )
    assert "Traceback" not in output


def test_run_sends_alerts_for_new_items(feed_server, webhook, make_config):
    feed_server.routes["/eu.xml"] = {"body": rss(ITEMS)}
    config = make_config(
        channels={"hook": webhook.url},
        extra=f'''
[[sources]]
name = "eu"
url = "{feed_server.url("/eu.xml")}"
alert_first_poll = true
''',
    )
    proc = start(config, "run")
    try:
        wait_until(lambda: len(webhook.posts) == 1, timeout=30, what="the item's alert")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [p["title"] for p in webhook.posts] == [
        "[regwatch] Microsoft, Mistral AI: Microsoft and Mistral AI"
    ]


def test_run_with_a_broken_config_exits_3_with_the_message(tmp_path):
    config = tmp_path / "regwatch.toml"
    config.write_text('[defaults]\nintervall = "5m"\n')
    proc = start(config, "run")
    assert proc.wait(timeout=30) == 3
    out = wait_until(
        lambda: "".join(proc.lines) if "hint" in "".join(proc.lines) else "",
        what="the error message and its hint",
    )
    assert "defaults.intervall: unknown key" in out and "did you mean 'interval'?" in out
