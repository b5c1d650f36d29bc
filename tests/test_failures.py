"""A broken source or channel is isolated, reported and never loses anything."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

import pytest
from conftest import free_port, rss

from watcher.config import load_config
from watcher.errors import StorageError
from watcher.pipeline.poll import poller_session
from watcher.store import Store

pytestmark = pytest.mark.usefixtures("backend")

GOOD = [{"title": "Microsoft and OpenAI", "link": "https://news.example/1", "html": "<p>x</p>"}]


def _sources(run_cli, config):
    result = run_cli(config, "sources", "--format", "json")
    assert result.exit_code == 0, result.output
    return {r["name"]: r for r in json.loads(result.output)}


def test_each_kind_of_broken_source_is_isolated_and_reported(feed_server, make_config, run_cli):
    release = threading.Event()

    def never_answers(handler):  # accepts, then says nothing until the test ends
        release.wait(10)

    feed_server.routes["/good.xml"] = {"body": rss(GOOD)}
    feed_server.routes["/500.xml"] = {"status": 500, "body": "boom"}
    feed_server.routes["/html.xml"] = {
        "body": "<!doctype html><html><body>Hi</body></html>",
        "ctype": "text/html",
    }
    feed_server.routes["/junk.xml"] = {"body": b"\x00\x01 not a feed at all", "ctype": "text/plain"}
    feed_server.routes["/big.xml"] = {"body": rss(GOOD * 4000)}
    feed_server.routes["/slow.xml"] = {"handler": never_answers}
    config = make_config(
        {
            "good": feed_server.url("/good.xml"),
            "http500": feed_server.url("/500.xml"),
            "html": feed_server.url("/html.xml"),
            "junk": feed_server.url("/junk.xml"),
            "big": feed_server.url("/big.xml"),
            "slow": feed_server.url("/slow.xml"),
            "refused": f"http://127.0.0.1:{free_port()}/feed.xml",
        },
        defaults='timeout = "1s"\nmax_bytes = 100000',
    )
    try:
        result = run_cli(config, "poll")
    finally:
        release.set()
    assert result.exit_code == 0, result.output
    assert "7 sources polled, 6 failed" in result.output

    rows = _sources(run_cli, config)
    assert rows["good"]["status"] == "ok" and rows["good"]["hits"] == 2
    assert rows["http500"]["http"] == 500 and "HTTP 500" in rows["http500"]["error"]
    assert "HTML page, not an RSS or Atom feed" in rows["html"]["error"]
    assert "not an RSS or Atom feed" in rows["junk"]["error"]
    assert "larger than 100,000 bytes" in rows["big"]["error"]
    assert "no complete response within 1s" in rows["slow"]["error"]
    assert "cannot connect" in rows["refused"]["error"]
    for name in ("http500", "html", "junk", "big", "slow", "refused"):
        assert rows[name]["status"] == "error" and rows[name]["failures"] == 1
        assert rows[name]["last_poll"]


def test_a_source_that_recovers_keeps_its_items(feed_server, make_config, run_cli):
    feed_server.routes["/flaky.xml"] = {"status": 503, "body": "down"}
    config = make_config({"flaky": feed_server.url("/flaky.xml")})
    run_cli(config, "poll")
    run_cli(config, "poll")
    assert _sources(run_cli, config)["flaky"]["failures"] == 2
    feed_server.routes["/flaky.xml"] = {"body": rss(GOOD)}
    run_cli(config, "poll")
    row = _sources(run_cli, config)["flaky"]
    assert row["status"] == "ok" and row["failures"] == 0 and row["error"] is None
    assert row["items"] == 1


def test_failed_alert_is_kept_and_sent_on_the_next_cycle(
    feed_server, webhook, make_config, run_cli
):
    feed_server.routes["/eu.xml"] = {"body": rss([])}
    config = make_config({"eu": feed_server.url("/eu.xml")}, {"hook": webhook.url})
    run_cli(config, "poll")  # first poll: the source is known from now on
    webhook.status = 500
    feed_server.routes["/eu.xml"] = {"body": rss(GOOD)}
    failed = run_cli(config, "poll")
    assert "alerts: 0 sent, 1 failed" in failed.output  # one message for the item's 2 hits
    assert webhook.posts == []

    webhook.status = 200
    # Failed sends wait for their backoff (1 min); `deliveries retry` makes them due now.
    assert "2 deliveries re-queued" in run_cli(config, "deliveries", "retry").output
    retried = run_cli(config, "poll")
    assert "alerts: 1 sent, 0 failed" in retried.output
    assert [p["title"] for p in webhook.posts] == [
        "[regwatch] Microsoft, OpenAI: Microsoft and OpenAI"
    ]
    again = run_cli(config, "poll")
    assert "alerts: 0 sent, 0 failed" in again.output and len(webhook.posts) == 1


def test_one_failing_channel_does_not_stop_another(feed_server, webhook, make_config, run_cli):
    feed_server.routes["/eu.xml"] = {"body": rss([])}
    dead = f"json://127.0.0.1:{free_port()}/nobody"
    config = make_config({"eu": feed_server.url("/eu.xml")}, {"dead": dead, "hook": webhook.url})
    run_cli(config, "poll")
    feed_server.routes["/eu.xml"] = {"body": rss(GOOD)}
    result = run_cli(config, "poll")
    assert "alerts: 1 sent, 1 failed" in result.output  # one message per item and channel
    assert len(webhook.posts) == 1


@pytest.mark.one_store
def test_unwritable_database_is_a_storage_error(feed_server, make_config, run_cli, tmp_path):
    feed_server.routes["/eu.xml"] = {"body": rss(GOOD)}
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be")
    config = make_config({"eu": feed_server.url("/eu.xml")})
    text = config.read_text().replace('path = "regwatch.db"', f'path = "{blocker}/x/regwatch.db"')
    config.write_text(text)
    result = run_cli(config, "poll")
    assert result.exit_code == 4
    assert "cannot open database" in result.output


@pytest.mark.one_store
def test_full_disk_stops_the_poll_with_a_clear_error_and_loses_nothing(
    feed_server, make_config, run_cli
):
    feed_server.routes["/eu.xml"] = {"body": rss([])}
    config_path = make_config({"eu": feed_server.url("/eu.xml")})
    run_cli(config_path, "poll")
    config = load_config(config_path)
    store = Store(config.database)
    pages = store.engine.execute("PRAGMA page_count").rows[0][0]
    # SQLite's own "database or disk is full": the file may not grow by a single page.
    store.engine.execute(f"PRAGMA max_page_count = {pages}")
    many = [
        {"title": f"OpenAI item {i}", "link": f"https://news.example/{i}", "html": "y" * 2000}
        for i in range(39)
    ]
    feed_server.routes["/eu.xml"] = {"body": rss(many)}

    async def poll():
        async with poller_session(config, store) as poller:
            return await poller.poll_all()

    with pytest.raises(StorageError, match="database or disk is full"):
        asyncio.run(poll())
    store.close()
    # Space is back: the next poll stores every item; the failed one marked none as seen.
    result = run_cli(config_path, "poll")
    assert result.exit_code == 0, result.output
    assert "39 new items, 39 hits" in result.output


def test_channel_secrets_never_reach_output_or_the_database(feed_server, make_config, run_cli):
    feed_server.routes["/eu.xml"] = {"body": rss([])}
    secret = "Sup3rS3cretT0ken"
    down = f"json://alice:{secret}@127.0.0.1:{free_port()}/hook"
    config = make_config({"eu": feed_server.url("/eu.xml")}, {"down": down})
    run_cli(config, "poll")
    feed_server.routes["/eu.xml"] = {"body": rss(GOOD)}
    outputs = [
        run_cli(config, "poll").output,
        run_cli(config, "check").output,
        run_cli(config, "test-alert").output,
    ]
    store = Store(load_config(config).database)
    errors = [r["last_error"] for r in store.engine.query("SELECT last_error FROM deliveries")]
    assert len(errors) == 2 and all(errors)
    assert secret not in "\n".join(outputs + errors)


# -- a concurrent writer (issue 15.5) ----------------------------------------------------------

LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL")  # as regwatch opens every database
for command in sys.stdin:
    if command.strip() == "lock":
        conn.execute("BEGIN IMMEDIATE")  # the write lock: other writers wait, readers read
    else:
        conn.execute("COMMIT")
    print(command.strip() + "ed", flush=True)
"""


class LockHolder:
    """Another process holding SQLite's write lock while the test says so."""

    def __init__(self, database: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LOCK_HOLDER, database],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def tell(self, command: str) -> None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == command + "ed"

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(10)


def poll_process(config) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "watcher", "--config", str(config), "poll"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.one_store
def test_poll_waits_for_another_process_writing(feed_server, make_config, run_cli, database):
    config = make_config({"eu": feed_server.url("/eu.xml")})
    feed_server.routes["/eu.xml"] = {"body": rss([])}
    assert run_cli(config, "poll").exit_code == 0  # the database exists
    holder = LockHolder(database)
    locked = threading.Event()

    def lock_then_answer(handler):
        # The poll claimed its source and fetches: another process takes the write lock
        # before the feed arrives, so the poll's next write has to wait for it.
        holder.tell("lock")
        locked.set()
        body = rss(GOOD).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    feed_server.routes["/eu.xml"] = {"handler": lock_then_answer}
    try:
        poll = poll_process(config)
        assert locked.wait(30), "the poll never fetched its feed"
        holder.tell("release")
        output, _ = poll.communicate(timeout=60)
    finally:
        holder.close()
    assert poll.returncode == 0, output
    assert "1 new items, 2 hits" in output


def poll_while_locked(config, database: str) -> tuple[int, str]:
    """`regwatch poll` with a 1 s busy_timeout while another process holds the write lock."""
    config.write_text(config.read_text().replace("[storage]\n", '[storage]\nbusy_timeout = "1s"\n'))
    holder = LockHolder(database)
    try:
        holder.tell("lock")
        poll = poll_process(config)
        output, _ = poll.communicate(timeout=60)
        holder.tell("release")
    finally:
        holder.close()
    return poll.returncode, output


@pytest.mark.one_store
def test_a_write_lock_held_too_long_has_its_own_message_and_hint(
    feed_server, make_config, run_cli, database
):
    feed_server.routes["/eu.xml"] = {"body": rss(GOOD)}
    config = make_config({"eu": feed_server.url("/eu.xml")})
    assert run_cli(config, "sources").exit_code == 0
    Store(database).close()  # made and migrated
    returncode, output = poll_while_locked(config, database)
    assert returncode == 4, output  # a storage error
    assert "another regwatch process is writing" in output
    assert "database is locked (waited 1 s for it)" in output
    assert "raise [storage] busy_timeout" in output
    assert "free disk space" not in output and "Traceback" not in output


@pytest.mark.one_store
def test_a_lock_met_while_opening_the_database_has_the_lock_message(
    feed_server, make_config, database
):
    """A new database is migrated as it is opened: a writer holding it is named as such."""
    config = make_config({"eu": feed_server.url("/eu.xml")})
    returncode, output = poll_while_locked(config, database)  # a database not made yet
    assert returncode == 4, output
    assert "another regwatch process is writing: cannot write its schema" in output
    assert "database is locked (waited 1 s for it)" in output
    assert "check [storage] in the config" not in output and "Traceback" not in output


# -- the log tells when a source starts failing, while it stays down, and when it recovers -------

FAILING = "watcher.pipeline.poll"


def failing_lines(caplog):
    return [
        (r.levelname, r.getMessage())
        for r in caplog.records
        if r.name == FAILING and "source eu" in r.getMessage()
    ]


IN_PROCESS = 'timeout = "5s"\nmin_interval = "1s"\nworkers = 0'  # no worker processes to start


@pytest.mark.one_store
def test_a_one_shot_poll_warns_when_a_source_starts_failing_and_when_it_recovers(
    feed_server, make_config, caplog
):
    from conftest import poll_once

    feed_server.routes["/eu.xml"] = {"status": 500, "body": "oops"}
    config = make_config({"eu": feed_server.url("/eu.xml")}, defaults=IN_PROCESS)
    caplog.set_level("INFO", logger=FAILING)
    poll_once(config, force=True)
    poll_once(config, force=True)  # still down: a one-shot poll never reminds
    feed_server.routes["/eu.xml"] = {"body": rss(GOOD)}
    poll_once(config, force=True)
    assert failing_lines(caplog) == [
        ("WARNING", "source eu is failing: HTTP 500 Internal Server Error"),
        ("INFO", "source eu recovered after 2 failed polls"),
    ]


@pytest.mark.one_store
def test_the_daemon_reminds_at_most_hourly_that_a_source_is_still_down(
    feed_server, make_config, caplog
):
    """The daemon's poller, its clock injected: one warning when the source starts failing,
    a reminder once an hour has passed, none in between; a restart reminds at once."""
    from watcher.pipeline.failing import REMIND_EVERY, FailureLog

    feed_server.routes["/eu.xml"] = {"status": 503, "body": "down"}
    config_path = make_config({"eu": feed_server.url("/eu.xml")}, defaults=IN_PROCESS)
    config = load_config(config_path)
    clock = [0.0]
    caplog.set_level("INFO", logger=FAILING)

    async def polls(at: list[float]) -> None:
        async with poller_session(config, store) as poller:
            poller.failure_log = FailureLog(REMIND_EVERY, clock=lambda: clock[0])
            for t in at:
                clock[0] = t
                await poller.poll(config.sources[0], force=True)

    store = Store(config.database)
    try:
        asyncio.run(polls([0, 60, 1800, 3599, 3600, 3700, 7300]))
        started, reminded = len(failing_lines(caplog)), None
        asyncio.run(polls([7400]))  # a restart: the database knows it is failing
        reminded = failing_lines(caplog)[started:]
    finally:
        store.close()
    down = "HTTP 503 Service Unavailable"
    assert failing_lines(caplog)[:started] == [
        ("WARNING", f"source eu is failing: {down}"),
        ("WARNING", f"source eu still failing (5 polls in a row): {down}"),  # at 3600
        ("WARNING", f"source eu still failing (7 polls in a row): {down}"),  # at 7300
    ]
    assert reminded == [("WARNING", f"source eu still failing (8 polls in a row): {down}")]
