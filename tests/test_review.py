"""Reviews from the command line: statuses, the append-only log, filters and outputs."""

from __future__ import annotations

import csv
import getpass
import io
import json
import subprocess
import sys
import textwrap

import pytest
from conftest import database_of

from watcher.store import Store

pytestmark = pytest.mark.usefixtures("backend")


def hits_json(run_cli, config, *args):
    result = run_cli(config, "hits", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_review_sets_status_who_when_and_note_and_hits_filters_on_it(hit_config, run_cli):
    before = hits_json(run_cli, hit_config)
    assert {h["status"] for h in before} == {"new"}
    assert all(h["reviewed_by"] is None and h["note"] is None for h in before)

    result = run_cli(
        hit_config,
        "review",
        "1",
        "3",
        "--status",
        "actioned",
        "--note",
        "sent to client",
        "--by",
        "alice",
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "hit 1: new -> actioned by alice",
        "hit 3: new -> actioned by alice",
    ]
    actioned = hits_json(run_cli, hit_config, "--status", "actioned")
    assert sorted(h["id"] for h in actioned) == [1, 3]
    assert {(h["reviewed_by"], h["note"]) for h in actioned} == {("alice", "sent to client")}
    assert all(h["reviewed_at"] for h in actioned)
    assert sorted(h["id"] for h in hits_json(run_cli, hit_config, "--status", "new")) == [2, 4, 5]

    table = run_cli(hit_config, "hits", "--status", "actioned").output
    assert table.splitlines()[0].split()[:7] == [
        "id",
        "story",
        "entity",
        "published",
        "source",
        "status",
        "matched",
    ]
    assert table.count("actioned") == 2

    rows = list(csv.DictReader(io.StringIO(run_cli(hit_config, "hits", "--format", "csv").output)))
    assert {r["id"]: r["status"] for r in rows}["1"] == "actioned"
    assert {"status", "reviewed_by", "reviewed_at", "note"} <= set(rows[0])
    line = run_cli(hit_config, "hits", "--format", "ndjson", "--status", "actioned").output
    assert all(json.loads(x)["note"] == "sent to client" for x in line.splitlines())


def test_by_defaults_to_the_login_name_and_story_reviews_all_its_hits(hit_config, run_cli):
    # Hits 1 and 2 are the two entities of the "ec1" item: one story.
    story = hits_json(run_cli, hit_config, "--entity", "Mistral AI", "--source", "ec")[0]["story"]
    result = run_cli(hit_config, "review", "--story", str(story), "--status", "dismissed")
    assert result.exit_code == 0, result.output
    dismissed = hits_json(run_cli, hit_config, "--status", "dismissed")
    assert len(dismissed) == 2 and {h["story"] for h in dismissed} == {story}
    assert {h["reviewed_by"] for h in dismissed} == {getpass.getuser()}


def test_the_log_keeps_every_change_and_filters_by_date_and_hit(hit_config, run_cli):
    run_cli(hit_config, "review", "2", "--status", "reviewed", "--by", "bob")
    run_cli(hit_config, "review", "2", "--status", "actioned", "--by", "alice", "--note", "filed")
    run_cli(hit_config, "review", "4", "--status", "dismissed", "--by", "bob")
    log = json.loads(run_cli(hit_config, "review-log", "--format", "json").output)
    assert [(r["hit"], r["by"], r["from"], r["to"], r["note"]) for r in log] == [
        (4, "bob", "new", "dismissed", None),
        (2, "alice", "reviewed", "actioned", "filed"),
        (2, "bob", "new", "reviewed", None),
    ]
    assert log[0]["entity"] and log[0]["title"]
    one = json.loads(run_cli(hit_config, "review-log", "--hit", "2", "--format", "json").output)
    assert [r["to"] for r in one] == ["actioned", "reviewed"]
    assert run_cli(hit_config, "review-log", "--since", "2099-01-01").output.strip() == "(no rows)"
    assert "from" in run_cli(hit_config, "review-log", "--since", "7d", "--format", "csv").output
    table = run_cli(hit_config, "review-log").output
    assert "alice" in table and "filed" in table


def test_bad_reviews_change_nothing(hit_config, run_cli):
    unknown = run_cli(hit_config, "review", "1", "99", "--status", "actioned", "--by", "x")
    assert unknown.exit_code == 1 and "no hit with id 99" in unknown.output
    assert {h["status"] for h in hits_json(run_cli, hit_config)} == {"new"}  # not even hit 1
    assert run_cli(hit_config, "review", "1", "--status", "done").exit_code == 2
    assert run_cli(hit_config, "review", "--status", "reviewed").exit_code == 2
    story = run_cli(hit_config, "review", "--story", "404", "--status", "reviewed")
    assert story.exit_code == 1 and "no story with id 404" in story.output
    assert json.loads(run_cli(hit_config, "review-log", "--format", "json").output) == []


def test_concurrent_reviews_of_one_hit_from_two_processes_keep_both_log_rows(hit_config):
    """Two processes review hit 1 at the same moment, many times: no log row is lost."""
    db = database_of(hit_config)
    script = textwrap.dedent(
        f"""
        import sys
        from watcher.store import Store
        store = Store({str(db)!r})
        who = sys.argv[1]
        sys.stdout.write("ready\\n"); sys.stdout.flush()
        sys.stdin.readline()  # both start together
        for i in range(25):
            store.review_hits([1], "reviewed" if i % 2 else "actioned", who, f"{{who}} {{i}}")
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, who],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("alice", "bob")
    ]
    for p in procs:
        assert p.stdout and p.stdout.readline() == "ready\n"
    for p in procs:
        assert p.stdin
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    log = Store(db, readonly=True).review_log(hit_id=1)
    assert len(log) == 50
    assert sorted(r.note for r in log if r.by == "alice") == sorted(f"alice {i}" for i in range(25))
    assert sorted(r.note for r in log if r.by == "bob") == sorted(f"bob {i}" for i in range(25))
    # The log is a chain: each change starts from the status the previous one left.
    chain = list(reversed(log))
    assert chain[0].from_status == "new"
    assert all(b.from_status == a.to_status for a, b in zip(chain, chain[1:], strict=False))


def test_alerts_link_to_the_hit_page_and_digests_mark_what_is_still_new(
    feed_server, receiver, make_config, run_cli
):
    from conftest import rss

    from watcher.alert.digest import render_digest
    from watcher.config import load_config
    from watcher.timeparse import utcnow

    feed_server.routes["/eu.xml"] = {
        "body": rss(
            [
                {"title": "Microsoft cloud probe", "link": "https://ec.example/1"},
                {"title": "OpenAI inquiry", "link": "https://ec.example/2"},
            ]
        )
    }
    config = make_config(
        extra=(
            f'[[sources]]\nname = "eu"\nurl = "{feed_server.url("/eu.xml")}"\n'
            "alert_first_poll = true\n"
            f'[[channels]]\nname = "team"\nurl = "{receiver.json_url}"\n'
            '[[channels]]\nname = "templated"\nurl = "' + receiver.json_url + '"\n'
            'body = "$entity: $hit_url"\n'
            '[web]\nbase_url = "https://regwatch.example.org/"\n'
        )
    )
    assert run_cli(config, "poll").exit_code == 0
    texts = receiver.texts()
    assert len(texts) == 4
    hits = json.loads(run_cli(config, "hits", "--format", "json").output)
    for hit in hits:
        url = f"https://regwatch.example.org/-/hits/{hit['id']}"
        assert any(f"Review: {url}" in t for t in texts)
        assert any(f"{hit['entity']}: {url}" in t for t in texts)

    store = Store(database_of(config))
    first, second = sorted(h["id"] for h in hits)
    store.review_hits([first], "dismissed", "bob")
    channel = load_config(config).channels[0]
    both = [store.get_hit(first), store.get_hit(second)]
    digest = render_digest(both, {}, channel, utcnow(), 1, base_url="https://rw.example")
    assert "2 hits, 1 new" in digest.title
    lines = digest.body.splitlines()
    assert any(line.startswith("- NEW ") for line in lines)
    assert any(line.startswith("- dismissed by bob ") for line in lines)
    assert f"review: https://rw.example/-/hits/{second}" in digest.body
