"""The parallel path: worker processes parse, clean and match; the results are the serial ones.

A poll with `workers = 2` must store exactly what the same poll stores with `workers = 0`
(everything in one process), for every source kind and every failure; a worker killed
with kill -9 is replaced and the source it was parsing is polled again, its items stored
once; `rematch` over a large database matches in the same workers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import rss, source_toml, wait_until
from test_sources import ARTICLE, ECL_ITEMS, SEARCH, document, ecl_page

ENTITIES = """
[[entities]]
name = "Microsoft"
aliases = ["Microsoft"]

[[entities]]
name = "Mistral AI"
aliases = ["Mistral AI"]

[[entities]]
name = "OpenAI"
aliases = ["OpenAI"]
weak_aliases = ["GPT"]
context = ["chatbot"]

[[topics]]
name = "merger"
terms = ["merger", "acquisition"]
"""

PRESS = "https://ec.europa.eu/commission/presscorner/detail"
SEARCH_PATH = "/presscorner/api/search?language=en&pagesize=50&pagenumber=1"


def serve_every_kind(feed_server: Any) -> str:
    """Routes for each source kind, copies of one story across sources, and broken sources;
    returns their [[sources]] tables."""
    feed_server.routes["/eu.xml"] = {
        "body": rss(
            [
                {
                    "title": "Commission fines Microsoft EUR 500 million for tying Teams",
                    "link": f"{PRESS}/en/ip_24_1234?utm_source=rss",
                    "html": "<p>The <b>Micro</b>soft case; a merger of Open<i>AI</i>.</p>",
                },
                {
                    "title": "GPT chatbot rules",
                    "link": "https://eu.example/2",
                    "html": "A chatbot called GPT&nbsp;and&nbsp;Mistral&#160;AI.",
                    "date": "Tue, 27 Feb 2024 08:00:00 +0100",
                },
                {"title": "Agriculture", "link": "https://eu.example/3", "html": "<p>None.</p>"},
            ]
        )
    }
    feed_server.routes["/wire.xml"] = {
        "body": rss(
            [
                {
                    "title": "Commission fines Microsoft EUR 500 million for tying Teams.",
                    "link": "https://wire.example/story/123#top",
                },
                {
                    "title": "Press release IP/24/1234 explained",
                    "link": "https://wire.example/124",
                    "html": "<ul><li>Microsoft</li><li>acquisition</li></ul>",
                },
            ]
        )
    }
    feed_server.routes["/atom.xml"] = {
        "body": (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            "<title>Atom</title><id>urn:a</id><updated>2024-02-27T10:00:00Z</updated>"
            '<entry><title type="html">&lt;b&gt;Mistral AI&lt;/b&gt; raises</title>'
            '<link href="https://atom.example/1"/><id>urn:a:1</id>'
            "<updated>2024-02-27T10:00:00Z</updated>"
            '<content type="html">&lt;p&gt;Backed by Micro&lt;b&gt;soft&lt;/b&gt;.&lt;/p&gt;</content>'
            "</entry></feed>"
        ),
        "ctype": "application/atom+xml",
    }
    feed_server.routes["/page"] = {"body": ecl_page(ECL_ITEMS[:1]), "ctype": "text/html"}
    feed_server.routes[SEARCH_PATH] = {"body": json.dumps(SEARCH), "ctype": "application/json"}
    for reference, html in (
        ("IP/24/1234", "<div><p>Microsoft and <b>Mistral</b> AI: a merger.</p></div>"),
        ("STATEMENT/24/99", "<p>OpenAI <script>Microsoft</script> board.</p>"),
    ):
        feed_server.routes[f"/presscorner/api/documents?reference={reference}&language=en"] = {
            "body": document(reference, html),
            "ctype": "application/json",
        }
    feed_server.routes["/article"] = {"body": ARTICLE, "ctype": "text/html; charset=utf-8"}
    feed_server.routes["/full.xml"] = {
        "body": rss([{"title": "Competition news", "link": feed_server.url("/article")}])
    }
    feed_server.routes["/archive.xml"] = {
        "body": rss([{"title": "OpenAI merger talks", "link": feed_server.url("/article")}])
    }
    feed_server.routes["/not-a-feed"] = {"body": "<html><p>Hi</p></html>", "ctype": "text/html"}
    feed_server.routes["/entities.xml"] = {
        "body": '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><rss>&a;</rss>'
    }
    feed_server.routes["/empty.xml"] = {"body": rss([])}
    url = feed_server.url
    return (
        source_toml("eu", url("/eu.xml"), alert_first_poll=True)
        + source_toml("wire", url("/wire.xml"), alert_first_poll=True)
        + source_toml("atom", url("/atom.xml"))
        + source_toml("page", url("/page"), kind="html")
        + source_toml("press", url("/presscorner/api"), kind="presscorner")
        + source_toml("full", url("/full.xml"), full_text=True, allow_private=True)
        + source_toml("archive", url("/archive.xml"), archive_links=True, allow_private=True)
        + source_toml("not-a-feed", url("/not-a-feed"))
        + source_toml("entities", url("/entities.xml"))
        + source_toml("empty", url("/empty.xml"))
    )


# What a poll stores, without the clock: when it ran differs from one run to the other.
TABLES = {
    "sources": "SELECT name, url, etag, body_hash, last_status, http_status, last_error, "
    "failures FROM sources ORDER BY name",
    "items": "SELECT id, source, key, title, link, published, text, extra FROM items ORDER BY id",
    "hits": 'SELECT id, item_id, entity, matched, field, start, "end", snippet, alerted, '
    "topics, alias, kind, confirmed_by, marked, story_id FROM hits ORDER BY id",
    "stories": "SELECT id, title FROM stories ORDER BY id",
    "story_keys": "SELECT key, story_id, at FROM story_keys ORDER BY key, story_id",
    "deliveries": "SELECT hit_id, channel, status FROM deliveries ORDER BY hit_id, channel",
    "evidence": "SELECT hc.hit_id, c.role, c.url, c.final_url, c.status, c.sha256, b.size "
    "FROM hit_captures hc JOIN captures c ON c.id = hc.capture_id "
    "JOIN evidence_bodies b ON b.sha256 = c.sha256 ORDER BY hc.hit_id, c.role, c.url",
}


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(db)
    try:
        return {name: conn.execute(sql).fetchall() for name, sql in TABLES.items()}
    finally:
        conn.close()


def config_with(make_config, webhook, tmp_path, sources: str, defaults: str, name: str) -> Path:
    config = make_config(
        channels={"team": webhook.url},
        extra=sources,
        entities=ENTITIES,
        defaults=defaults,
    )
    moved = tmp_path / f"{name}.toml"
    moved.write_text(config.read_text().replace('path = "regwatch.db"', f'path = "{name}.db"'))
    return moved


def poll(run_cli, config: Path) -> Path:
    result = run_cli(config, "poll")
    assert result.exit_code == 0, result.output
    return config.with_suffix(".db")


def change_some_feeds(feed_server: Any) -> None:
    """A second round: new items in two feeds and on the page, the rest unchanged (dated:
    an undated item's stories are keyed by when it was stored)."""
    eu = feed_server.routes["/eu.xml"]["body"]
    feed_server.routes["/eu.xml"]["body"] = eu.replace(
        "<item>",
        "<item><title>OpenAI and Microsoft: merger cleared</title>"
        "<link>https://eu.example/4</link><guid>https://eu.example/4</guid>"
        "<pubDate>Wed, 28 Feb 2024 10:00:00 +0000</pubDate>"
        "<description>&lt;p&gt;A chatbot deal.&lt;/p&gt;</description></item><item>",
        1,
    )
    wire = feed_server.routes["/wire.xml"]["body"]
    feed_server.routes["/wire.xml"]["body"] = wire.replace(
        "<item>",
        "<item><title>Commission clears OpenAI and Microsoft merger</title>"
        "<link>https://wire.example/125</link><guid>w125</guid>"
        "<pubDate>Wed, 28 Feb 2024 11:00:00 +0000</pubDate></item><item>",
        1,
    )
    dated = {**ECL_ITEMS[1], "stamp": "2024-02-26T09:00:00Z"}
    feed_server.routes["/page"]["body"] = ecl_page([dated, ECL_ITEMS[0]])


def test_workers_store_exactly_what_one_process_stores(
    feed_server, make_config, run_cli, webhook, tmp_path
):
    sources = serve_every_kind(feed_server)
    # concurrency 1: sources polled and stored one after the other, in the config's order,
    # so both runs assign ids (and stories) in the same order.
    one_by_one = 'timeout = "5s"\nconcurrency = 1'
    a = config_with(make_config, webhook, tmp_path, sources, one_by_one + "\nworkers = 0", "a")
    b = config_with(make_config, webhook, tmp_path, sources, one_by_one + "\nworkers = 2", "b")
    # First polls: every item new, cleaned with the parse; second polls: a few new items,
    # cleaned after the stored ones are left out (two jobs).
    serial, parallel = poll(run_cli, a), poll(run_cli, b)
    change_some_feeds(feed_server)
    poll(run_cli, a), poll(run_cli, b)
    one, two = dump(serial), dump(parallel)
    for table in TABLES:
        assert one[table] == two[table], table
    # The comparison is worth something: every kind stored items, hits, stories, evidence.
    assert ("eu", "https://eu.example/4") in {(row[1], row[4]) for row in one["items"]}
    assert {row[1] for row in one["items"]} == {
        "eu",
        "wire",
        "atom",
        "page",
        "press",
        "full",
        "archive",
    }
    assert len(one["hits"]) >= 10 and len(one["evidence"]) > len(one["hits"])
    assert len({row[-1] for row in one["hits"]}) < len(one["hits"])  # copies joined stories
    assert {row[0]: row[6] for row in one["sources"]}["not-a-feed"].startswith("the response is an")
    assert "XML entities" in {row[0]: row[6] for row in one["sources"]}["entities"]
    assert {row[2] for row in one["deliveries"]} == {"sent", "merged"}


def test_concurrent_polls_with_workers_store_the_same_items_and_hits(
    feed_server, make_config, run_cli, webhook, tmp_path
):
    sources = serve_every_kind(feed_server)
    serial = poll(run_cli, config_with(make_config, webhook, tmp_path, sources, "workers = 0", "a"))
    parallel = poll(
        run_cli, config_with(make_config, webhook, tmp_path, sources, "workers = 2", "b")
    )

    def content(db: Path) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
        conn = sqlite3.connect(db)
        items = set(conn.execute("SELECT source, key, title, link, published, text FROM items"))
        hits = set(
            conn.execute(
                'SELECT i.source, i.key, h.entity, h.matched, h.field, h.start, h."end", '
                "h.snippet, h.topics, h.kind, h.marked FROM hits h JOIN items i ON i.id = h.item_id"
            )
        )
        conn.close()
        return items, hits

    assert content(serial) == content(parallel)


# -- a worker killed with kill -9 ---------------------------------------------------------------

BIG = 3000  # items: a few seconds of parsing, long enough to be caught in the middle of it


def big_feed() -> str:
    return rss(
        [
            {
                "title": f"Item {i}: {'Microsoft' if i % 3 == 0 else 'Contoso'} news",
                "link": f"https://big.example/{i}",
                "html": "<p>" + " ".join(["<b>competition</b> decision"] * 40) + f" {i}</p>",
            }
            for i in range(BIG)
        ]
    )


def worker_pids(daemon_pid: int) -> list[int]:
    """The daemon's worker processes (its children running multiprocessing's spawn_main)."""
    pids = []
    for task in os.listdir(f"/proc/{daemon_pid}/task"):
        with open(f"/proc/{daemon_pid}/task/{task}/children") as f:
            pids += [int(p) for p in f.read().split()]
    found = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"spawn_main" in f.read():
                    found.append(pid)
        except OSError:
            continue
    return found


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return -1
    finally:
        conn.close()


@pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
    reason="needs /proc/PID/task/TID/children (Linux)",
)
def test_a_worker_killed_while_parsing_is_replaced_and_its_feed_polled_again(
    feed_server, make_config, start_daemon
):
    feed_server.routes["/eu.xml"] = {
        "body": rss([{"title": "Microsoft first", "link": "https://big.example/first"}])
    }
    config = make_config(
        extra=source_toml("eu", feed_server.url("/eu.xml"), interval="1s"),
        defaults='timeout = "60s"\nmin_interval = "1s"\nworkers = 1',
    )
    db = config.parent / "regwatch.db"
    daemon = start_daemon(config)
    daemon.notify.wait_for("READY=1", timeout=60)
    wait_until(lambda: count(db, "SELECT COUNT(*) FROM items") == 1, 60, "the first item")
    (first,) = wait_until(lambda: worker_pids(daemon.proc.pid), 30, "the worker process")

    fetched = len(feed_server.hits_on("/eu.xml"))
    feed_server.routes["/eu.xml"] = {"body": big_feed()}
    wait_until(lambda: len(feed_server.hits_on("/eu.xml")) > fetched, 30, "the big feed fetched")
    idle = cpu_ticks(first)
    # The worker is parsing once it uses CPU again (idle, it waits on a pipe).
    wait_until(lambda: cpu_ticks(first) >= idle + 3, 30, "the worker parsing the big feed")
    assert count(db, "SELECT COUNT(*) FROM items") == 1  # still in the middle of it
    os.kill(first, signal.SIGKILL)

    wait_until(lambda: count(db, "SELECT COUNT(*) FROM items") == 1 + BIG, 120, "every item")
    daemon.wait_log("polling it again")
    assert "a worker process died" in daemon.log()
    assert len(feed_server.hits_on("/eu.xml")) >= fetched + 2  # fetched again after the kill
    wait_until(lambda: first not in worker_pids(daemon.proc.pid), 30, "the killed worker gone")
    (second,) = wait_until(lambda: worker_pids(daemon.proc.pid), 30, "a new worker")
    # Not lost, not doubled: every item once, every hit once.
    assert count(db, "SELECT COUNT(DISTINCT key) FROM items") == 1 + BIG
    assert count(db, "SELECT COUNT(*) FROM hits") == 1 + BIG // 3
    assert "Traceback" not in daemon.log()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(60) == 0
    assert not os.path.exists(f"/proc/{second}") or worker_exited(second)


def worker_exited(pid: int) -> bool:
    """True when the process is gone or a zombie (stopped with the daemon)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


# -- rematch over a large database --------------------------------------------------------------

MANY = 2500  # items: above the threshold from which rematch uses the workers


def fill(db: Path) -> None:
    """MANY stored items and no hits (as if polled with an empty watchlist)."""
    from watcher.model import Item, SourceState
    from watcher.store import Store

    store = Store(db)
    items = [
        Item(
            key=f"k{i}",
            title=f"Item {i}",
            link=f"https://many.example/{i}",
            published="2024-02-26T10:00:00+00:00",
            text=("Microsoft and Mistral AI" if i % 5 == 0 else "Contoso") + f" news {i}",
        )
        for i in range(MANY)
    ]
    store.save_poll(
        SourceState("many", "https://many.example/feed"),
        items,
        [],
        lambda m: [],
        alert=False,
        http_status=200,
    )
    store.close()


def test_rematch_of_a_large_database_uses_the_workers_and_shows_progress(make_config, tmp_path):
    serial = make_config(entities=ENTITIES, defaults="workers = 0")
    fill(tmp_path / "regwatch.db")
    shutil.copy(tmp_path / "regwatch.db", tmp_path / "copy.db")
    parallel = tmp_path / "parallel.toml"
    parallel.write_text(
        serial.read_text()
        .replace('path = "regwatch.db"', 'path = "copy.db"')
        .replace("workers = 0", "workers = 2")
    )
    leader, follower = os.openpty()
    out = tmp_path / "rematch.json"  # a file, not a pipe: nobody reads a pipe until the end
    with open(out, "wb") as stdout_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "watcher", "--config", str(parallel)]
            + ["rematch", "--format", "json"],
            stdout=stdout_file,
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
    proc.wait(timeout=120)
    os.close(leader)
    stdout = out.read_text()
    assert proc.returncode == 0, terminal.decode(errors="replace")
    assert b"Matching" in terminal and f"{MANY}/{MANY}".encode() in terminal

    from click.testing import CliRunner

    from watcher.cli import cli

    alone = CliRunner().invoke(cli, ["--config", str(serial), "rematch", "--format", "json"])
    assert alone.exit_code == 0, alone.output
    assert json.loads(stdout) == json.loads(alone.output)
    assert len(json.loads(stdout)) == 2 * MANY // 5  # Microsoft and Mistral AI in every fifth


# -- a reload with other entities -----------------------------------------------------------------


def test_a_reload_with_other_entities_starts_workers_that_match_them(
    feed_server, make_config, start_daemon
):
    feed_server.routes["/eu.xml"] = {
        "body": rss([{"title": "Microsoft opens an office", "link": "https://eu.example/1"}])
    }
    microsoft = '[[entities]]\nname = "Microsoft"\naliases = ["Microsoft"]\n'
    config = make_config(
        extra=source_toml("eu", feed_server.url("/eu.xml"), interval="1s"),
        entities=microsoft,
        defaults='timeout = "10s"\nmin_interval = "1s"\nworkers = 1',
    )
    db = config.parent / "regwatch.db"
    daemon = start_daemon(config)
    daemon.notify.wait_for("READY=1", timeout=60)
    wait_until(lambda: count(db, "SELECT COUNT(*) FROM hits") == 1, 60, "the Microsoft hit")
    (before,) = wait_until(lambda: worker_pids(daemon.proc.pid), 30, "the worker")

    config.write_text(config.read_text() + '[[entities]]\nname = "OpenAI"\naliases = ["OpenAI"]\n')
    daemon.signal(signal.SIGHUP)
    daemon.wait_log("reloaded")
    feed_server.routes["/eu.xml"] = {
        "body": rss(
            [
                {"title": "OpenAI and Microsoft", "link": "https://eu.example/2"},
                {"title": "Microsoft opens an office", "link": "https://eu.example/1"},
            ]
        )
    }
    wait_until(
        lambda: count(db, "SELECT COUNT(*) FROM hits WHERE entity = 'OpenAI'") == 1,
        60,
        "the OpenAI hit, matched by the reloaded entities",
    )
    assert count(db, "SELECT COUNT(*) FROM hits") == 3  # Microsoft twice, OpenAI once
    # The worker of the old config (and its matcher) retired; a new one does the work.
    wait_until(lambda: worker_pids(daemon.proc.pid) not in ([], [before]), 30, "a new worker")
    wait_until(lambda: before not in worker_pids(daemon.proc.pid), 30, "the old worker gone")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(60) == 0


def test_workers_exit_when_their_daemon_is_killed(feed_server, make_config, start_daemon):
    feed_server.routes["/eu.xml"] = {"body": rss([{"title": "OpenAI", "link": "https://x/1"}])}
    config = make_config(
        extra=source_toml("eu", feed_server.url("/eu.xml"), interval="1s"),
        defaults='timeout = "10s"\nmin_interval = "1s"\nworkers = 2',
    )
    daemon = start_daemon(config)
    db = config.parent / "regwatch.db"
    wait_until(lambda: count(db, "SELECT COUNT(*) FROM items") == 1, 60, "the first poll")
    workers = wait_until(lambda: worker_pids(daemon.proc.pid), 30, "the workers")
    daemon.proc.kill()  # kill -9: no chance to stop them
    daemon.proc.wait(30)
    wait_until(lambda: all(worker_exited(pid) for pid in workers), 30, "the orphaned workers gone")
