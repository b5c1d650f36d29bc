"""End to end through the CLI: feeds on a local server -> hits in the store -> alerts."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from conftest import rss

pytestmark = pytest.mark.usefixtures("backend")


OLD = [
    {
        "title": "Commission publishes annual competition report",
        "link": "https://ec.example.eu/old1",
        "html": "<p>Microsoft is mentioned once.</p>",
    }
]
NEW = [
    {
        "title": "Microsoft invests EUR 15 million in Mistral AI",
        "link": "https://ec.example.eu/new1",
        "html": "<p>The Commission looks at the deal between <b>Microsoft</b> and Mistral&nbsp;AI.</p>",
    },
    {
        "title": "Statement on generative AI partnerships",
        "link": "https://ec.example.eu/new2",
        "html": "<p>The Commission reviews the Open<b>AI</b> board changes.</p>",
    },
    {
        "title": "Agriculture council conclusions",
        "link": "https://ec.example.eu/new3",
        "html": "<p>Nothing about the watched companies.</p>",
    },
]


def hits_json(run_cli, config, *extra):
    result = run_cli(config, "hits", "--format", "json", "--limit", "0", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_new_items_become_hits_and_one_alert_per_item_per_channel(
    feed_server, webhook, smtp_server, make_config, run_cli
):
    feed_server.routes["/eu.xml"] = {"body": rss(OLD)}
    config = make_config(
        {"eu": feed_server.url("/eu.xml")}, {"email": smtp_server.url(), "hook": webhook.url}
    )

    first = run_cli(config, "poll")
    assert first.exit_code == 0, first.output
    assert webhook.posts == [] and smtp_server.messages == []  # a new source's items: no alerts
    assert [h["link"] for h in hits_json(run_cli, config)] == ["https://ec.example.eu/old1"]

    feed_server.routes["/eu.xml"] = {"body": rss(NEW + OLD)}
    second = run_cli(config, "poll")
    assert second.exit_code == 0, second.output

    got = {(h["entity"], h["link"]) for h in hits_json(run_cli, config)}
    assert {
        ("Microsoft", "https://ec.example.eu/new1"),
        ("Mistral AI", "https://ec.example.eu/new1"),
        ("OpenAI", "https://ec.example.eu/new2"),
    } <= got
    assert not any(link == "https://ec.example.eu/new3" for _, link in got)

    # One alert per item and channel, naming every entity of the item.
    assert len(webhook.posts) == 2 and len(smtp_server.messages) == 2
    assert sorted(p["title"] for p in webhook.posts) == sorted(
        f"[regwatch] {e}: {t}"
        for e, t in [
            ("Microsoft, Mistral AI", NEW[0]["title"]),
            ("OpenAI", NEW[1]["title"]),
        ]
    )
    mail = "\n".join(smtp_server.bodies())
    assert "https://ec.example.eu/new1" in mail and "https://ec.example.eu/new2" in mail
    assert "https://ec.example.eu/old1" not in mail + webhook.text()

    # Nothing new: no alert, and the request was conditional.
    third = run_cli(config, "poll")
    assert third.exit_code == 0
    assert len(webhook.posts) == 2 and len(smtp_server.messages) == 2
    last = feed_server.hits_on("/eu.xml")[-1]
    assert last.get("if-none-match")
    assert last["user-agent"].startswith("regwatch/")
    assert "not modified" in third.output


def test_last_modified_is_sent_back(feed_server, make_config, run_cli):
    stamp = "Mon, 26 Feb 2024 10:00:00 GMT"
    feed_server.routes["/lm.xml"] = {"body": rss(OLD), "etag": False, "last_modified": stamp}
    config = make_config({"lm": feed_server.url("/lm.xml")})
    run_cli(config, "poll")
    result = run_cli(config, "poll")
    assert feed_server.hits_on("/lm.xml")[-1].get("if-modified-since") == stamp
    assert "not modified" in result.output


def test_identical_body_without_validators_is_not_parsed_again(feed_server, make_config, run_cli):
    feed_server.routes["/plain.xml"] = {"body": rss(OLD), "etag": False}
    config = make_config({"plain": feed_server.url("/plain.xml")})
    run_cli(config, "poll")
    result = run_cli(config, "poll")
    assert "unchanged" in result.output


def test_alert_first_poll_option_alerts_existing_items(feed_server, webhook, make_config, run_cli):
    feed_server.routes["/eu.xml"] = {"body": rss(NEW)}
    config = make_config(
        channels={"hook": webhook.url},
        extra=f'''
[[sources]]
name = "eu"
url = "{feed_server.url("/eu.xml")}"
alert_first_poll = true
''',
    )
    run_cli(config, "poll")
    assert len(webhook.posts) == 2  # the two items (one of them naming two entities)


def test_hits_formats(feed_server, make_config, run_cli):
    feed_server.routes["/eu.xml"] = {"body": rss(NEW)}
    config = make_config({"eu": feed_server.url("/eu.xml")})
    run_cli(config, "poll")

    rows = hits_json(run_cli, config)
    assert {"entity", "title", "link", "source", "published", "matched", "snippet"} <= set(rows[0])
    assert {r["source"] for r in rows} == {"eu"}

    as_csv = run_cli(config, "hits", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert {r["link"] for r in table} == {
        "https://ec.example.eu/new1",
        "https://ec.example.eu/new2",
    }

    as_table = run_cli(config, "hits", "--entity", "OpenAI")
    assert as_table.exit_code == 0
    assert "OpenAI" in as_table.output and "Mistral AI" not in as_table.output

    assert hits_json(run_cli, config, "--search", "board changes")[0]["entity"] == "OpenAI"
    assert hits_json(run_cli, config, "--since", "2000-01-01")
    assert hits_json(run_cli, config, "--source", "nope") == []


def test_no_channel_prints_hits(feed_server, make_config, run_cli):
    feed_server.routes["/eu.xml"] = {"body": rss(NEW)}
    config = make_config({"eu": feed_server.url("/eu.xml")})
    result = run_cli(config, "poll")
    assert "HIT Microsoft [eu] Microsoft invests EUR 15 million in Mistral AI" in result.output


def test_inline_markup_does_not_split_words_and_blocks_do(feed_server, make_config, run_cli):
    feed_server.routes["/eu.xml"] = {
        "body": rss(
            [
                {
                    "title": "One",
                    "link": "https://x.example/1",
                    "html": "<p>Open<b>AI</b> board</p>",
                },
                {"title": "Two", "link": "https://x.example/2", "html": "<p>Open</p><p>AI</p>"},
            ]
        )
    }
    config = make_config({"eu": feed_server.url("/eu.xml")})
    run_cli(config, "poll")
    assert [h["link"] for h in hits_json(run_cli, config)] == ["https://x.example/1"]


@pytest.mark.one_store
def test_demo_shows_hits_and_alerts_without_network(tmp_path):
    from click.testing import CliRunner

    from watcher.cli import cli

    result = CliRunner().invoke(cli, ["demo", "--keep", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "technews: 2 new items, 2 hits (first poll: stored, not alerted)" in result.output
    assert "commission: 1 new items, 3 hits (alerted)" in result.output
    assert "Alerts received by the local webhook (1)" in result.output
    assert "Entities: Microsoft (matched “Microsoft”), Mistral AI" in result.output
    assert (tmp_path / "demo" / "demo.db").exists()


# Loaded only for work a poll of unchanged feeds never does: parsing and cleaning (they run
# in worker processes), the worker pool itself, sending alerts, digests and stories, metrics
# and the scheduler of the daemon, sqlite-utils (migrations and upkeep).
NOT_FOR_304 = (
    "bs4",
    "feedparser",
    "lxml",
    "soupsieve",
    "ahocorasick",
    "concurrent.futures.process",
    "apprise",
    "apscheduler",
    "prometheus_client",
    "sqlite_utils",
    "watcher.alert.digest",
    "watcher.story",
)


def test_a_poll_where_every_feed_answers_304_loads_no_parser(feed_server, make_config, run_cli):
    feed_server.routes["/eu.xml"] = {"body": rss([{"title": "OpenAI", "link": "https://x/1"}])}
    config = make_config({"eu": feed_server.url("/eu.xml")})
    assert run_cli(config, "poll").exit_code == 0
    code = (
        "import sys\n"
        "from watcher.__main__ import main\n"
        f"sys.argv = ['regwatch', '--config', {str(config)!r}, 'poll']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "not modified" in done.stdout, done.stdout + done.stderr
    loaded = set(done.stderr.split())
    assert [name for name in NOT_FOR_304 if name in loaded] == []
