"""Progress bars: on a terminal for long operations, never in pipes or logs."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from conftest import rss

from watcher.cli.progress import progress, wants_progress
from watcher.store import Store


def test_no_bar_when_the_stream_is_not_a_terminal():
    stream = io.StringIO()
    assert wants_progress(stream) is False
    with progress(100, "Indexing", stream=stream) as advance:
        advance(50)
    assert stream.getvalue() == ""


@pytest.mark.usefixtures("backend")
def test_reindex_reports_each_batch(hit_config, database):
    done: list[int] = []
    assert Store(database).rebuild_index(done.append) == 6
    assert sum(done) == 6


def _five_sources(feed_server, make_config):
    sources = {}
    for n in range(5):
        feed_server.routes[f"/f{n}.xml"] = {
            "body": rss([{"title": f"Microsoft news {n}", "link": f"https://x.example/{n}"}])
        }
        sources[f"feed{n}"] = feed_server.url(f"/f{n}.xml")
    return make_config(sources)


def test_first_poll_of_many_sources_shows_a_bar_on_a_terminal(feed_server, make_config):
    config = _five_sources(feed_server, make_config)
    leader, follower = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "watcher", "--config", str(config), "poll"],
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "COLUMNS": "100"},
    )
    os.close(follower)
    terminal = b""
    while True:  # read the terminal until the process closes it
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        terminal += chunk
    stdout = proc.communicate(timeout=60)[0].decode()
    os.close(leader)
    assert proc.returncode == 0
    assert b"Polling" in terminal and b"5/5" in terminal
    assert "Polling" not in stdout and "5 sources polled" in stdout


def test_no_bar_when_piped(feed_server, make_config, run_cli):
    config = _five_sources(feed_server, make_config)
    result = run_cli(config, "poll")
    assert result.exit_code == 0 and "Polling" not in result.output
