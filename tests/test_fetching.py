"""Fetching that lasts: backoff, Retry-After, 410, permanent redirects, per-host limits, SSRF."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from conftest import poll_once, rss, source_toml, stored_rows

from watcher.config import Defaults, load_config
from watcher.errors import FetchError
from watcher.pipeline.addresses import refuse_private
from watcher.pipeline.fetch import HostLimiter, fetch, make_client
from watcher.pipeline.poll import backoff_delay
from watcher.timeparse import parse_retry_after

pytestmark = pytest.mark.usefixtures("backend")

FEED = rss([{"title": "Microsoft news", "link": "https://example.org/1"}])


def source_row(config, name):
    return stored_rows(config, "sources", name)[0]


def seconds_until(stamp):
    return (datetime.fromisoformat(stamp) - datetime.now(UTC)).total_seconds()


@pytest.mark.parametrize(
    "interval,failures,expected",
    [(900, 1, 900), (900, 2, 1800), (900, 4, 7200), (900, 10, 86400), (86400, 3, 86400)],
)
@pytest.mark.one_store
def test_backoff_doubles_per_failure_up_to_a_day(interval, failures, expected):
    assert backoff_delay(interval, failures) == expected


@pytest.mark.one_store
def test_retry_after_in_seconds_or_as_an_http_date_capped_at_a_day():
    now = datetime(2024, 2, 26, 10, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Mon, 26 Feb 2024 11:00:00 GMT", now) == 3600
    assert parse_retry_after("Mon, 26 Feb 2024 09:00:00 GMT", now) == 0  # in the past
    assert parse_retry_after("9999999", now) == 86400
    assert parse_retry_after("soon", now) is None


def test_failing_source_backs_off_then_recovers(feed_server, make_config, run_cli):
    feed_server.routes["/feed.xml"] = {"status": 500, "body": "boom"}
    config = make_config(extra=source_toml("eu", feed_server.url("/feed.xml"), interval="10m"))

    assert poll_once(config)["eu"].status == "error"
    first = source_row(config, "eu")
    assert first["failures"] == 1 and 500 < seconds_until(first["next_poll_at"]) <= 600

    assert poll_once(config)["eu"].status == "deferred"  # the daemon's next run is skipped
    assert len(feed_server.hits_on("/feed.xml")) == 1

    assert poll_once(config, force=True)["eu"].status == "error"
    second = source_row(config, "eu")
    assert second["failures"] == 2 and 1100 < seconds_until(second["next_poll_at"]) <= 1200
    shown = json.loads(run_cli(config, "sources", "--format", "json").output)[0]
    assert shown["failures"] == 2 and shown["next_poll"] == second["next_poll_at"]

    feed_server.routes["/feed.xml"] = {"body": FEED}
    due = run_cli(config, "poll", "--due")  # cron-style: still backing off
    assert "1 sources deferred" in due.output and len(feed_server.hits_on("/feed.xml")) == 2
    result = run_cli(config, "poll")  # by hand: polled now
    assert result.exit_code == 0 and "ok" in result.output
    healed = source_row(config, "eu")
    assert healed["failures"] == 0 and healed["next_poll_at"] is None


@pytest.mark.parametrize(
    "status,retry_after,expected",
    [
        (429, "3600", 3600),
        (503, "HTTP date in 2 hours", 7200),
        (429, "999999", 86400),  # capped at 24 h
    ],
    ids=["429-seconds", "503-http-date", "429-capped"],
)
def test_retry_after_defers_the_next_poll(feed_server, make_config, status, retry_after, expected):
    if retry_after.startswith("HTTP date"):
        retry_after = (datetime.now(UTC) + timedelta(hours=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    feed_server.routes["/feed.xml"] = {
        "status": status,
        "body": "slow down",
        "headers": {"Retry-After": retry_after},
    }
    config = make_config(extra=source_toml("eu", feed_server.url("/feed.xml"), interval="1m"))
    result = poll_once(config)["eu"]
    assert result.status == "error" and "Retry-After" in result.error
    wait = seconds_until(source_row(config, "eu")["next_poll_at"])
    assert expected - 10 < wait <= expected
    assert poll_once(config)["eu"].status == "deferred"


def test_410_gone_disables_the_source_until_its_url_changes(feed_server, make_config, run_cli):
    feed_server.routes["/old.xml"] = {"status": 410, "body": "gone"}
    feed_server.routes["/new.xml"] = {"body": FEED}
    config = make_config({"other": feed_server.url("/new.xml")})
    config.write_text(
        config.read_text() + source_toml("eu", feed_server.url("/old.xml")), encoding="utf-8"
    )

    results = poll_once(config)
    assert results["eu"].status == "gone" and "410" in results["eu"].error
    assert results["other"].status == "ok"  # other sources unaffected
    again = poll_once(config, force=True)["eu"]
    assert again.status == "gone" and "disabled since" in again.error
    assert len(feed_server.hits_on("/old.xml")) == 1  # never asked again
    row = {r["name"]: r for r in json.loads(run_cli(config, "sources", "--format", "json").output)}
    assert row["eu"]["status"] == "gone (disabled by HTTP 410)"

    config.write_text(config.read_text().replace("/old.xml", "/new.xml"), encoding="utf-8")
    assert poll_once(config)["eu"].status == "ok"


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_updates_the_stored_url(feed_server, make_config, run_cli, status):
    feed_server.routes["/old.xml"] = {
        "status": status,
        "headers": {"Location": "/moved.xml"},
        "body": "",
    }
    feed_server.routes["/moved.xml"] = {"status": 301, "headers": {"Location": "/new.xml"}}
    feed_server.routes["/new.xml"] = {"body": FEED}
    config = make_config({"eu": feed_server.url("/old.xml")})

    assert poll_once(config)["eu"].new_items == 1
    assert source_row(config, "eu")["moved_to"] == feed_server.url("/new.xml")
    shown = json.loads(run_cli(config, "sources", "--format", "json").output)[0]
    assert shown["url"] == feed_server.url("/new.xml")
    assert shown["config_url"] == feed_server.url("/old.xml")

    poll_once(config, force=True)
    assert len(feed_server.hits_on("/old.xml")) == 1  # the next poll goes straight there
    assert len(feed_server.hits_on("/new.xml")) == 2


@pytest.mark.one_store
def test_temporary_redirect_keeps_the_url(feed_server, make_config):
    feed_server.routes["/feed.xml"] = {"status": 302, "headers": {"Location": "/today.xml"}}
    feed_server.routes["/today.xml"] = {"body": FEED}
    config = make_config({"eu": feed_server.url("/feed.xml")})
    assert poll_once(config)["eu"].status == "ok"
    assert source_row(config, "eu")["moved_to"] is None


@pytest.mark.one_store
def test_at_most_two_requests_at_a_time_per_host(feed_server, make_config):
    lock = threading.Lock()
    state = {"now": 0, "max": 0}
    release = threading.Event()

    def slow(handler):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        release.wait(0.15)  # the server is slow: requests overlap if the client lets them
        with lock:
            state["now"] -= 1
        body = FEED.encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    sources = {}
    for i in range(6):
        feed_server.routes[f"/f{i}.xml"] = {"handler": slow}
        sources[f"s{i}"] = feed_server.url(f"/f{i}.xml")
    config = make_config(sources)

    results = poll_once(config)
    assert all(r.status == "ok" for r in results.values())
    assert state["max"] == 2


@pytest.mark.one_store
def test_interval_is_clamped_between_a_minute_and_a_day(make_config):
    config = make_config(
        defaults="",
        extra=source_toml("fast", "https://example.org/a", interval="5s")
        + source_toml("slow", "https://example.org/b", interval="3d"),
    )
    loaded = load_config(config)
    assert [s.interval for s in loaded.sources] == [60, 86400]
    lowered = make_config(
        defaults='min_interval = "5s"',
        extra=source_toml("fast", "https://example.org/a", interval="5s"),
    )
    assert load_config(lowered).sources[0].interval == 5


# -- private addresses (SSRF) on every redirect hop --------------------------------------------


def fetch_with(url, guard, max_redirects=5):
    async def go():
        async with make_client(Defaults()) as client:
            return await fetch(
                client,
                url,
                timeout=5,
                max_redirects=max_redirects,
                guard=guard,
                limiter=HostLimiter(),
            )

    return asyncio.run(go())


LOCAL = ipaddress.ip_address("127.0.0.1")


def only_this_server(ip):
    """Stands in for public DNS: our 127.0.0.1 server plays a public site, nothing else does."""
    return None if ip == LOCAL else refuse_private(ip)


@pytest.mark.parametrize(
    "target,reason",
    [
        ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("http://10.1.2.3/admin", "a private address"),
        ("http://[::1]:8080/", "a loopback address"),
        ("http://[::ffff:192.168.0.1]/", "a private address"),
        ("http://0.0.0.0/", "the unspecified address"),
        ("http://100.64.0.1/", "non-public"),
    ],
)
@pytest.mark.one_store
def test_redirect_hop_to_a_private_address_is_refused(feed_server, target, reason):
    feed_server.routes["/go"] = {"status": 302, "headers": {"Location": target}}
    with pytest.raises(FetchError) as caught:
        fetch_with(feed_server.url("/go"), only_this_server)
    assert reason in caught.value.message
    assert "allow_private" in caught.value.hint
    assert len(feed_server.hits_on("/go")) == 1


@pytest.mark.one_store
def test_first_hop_to_loopback_is_refused_before_connecting(feed_server):
    feed_server.routes["/page"] = {"body": "<p>hi</p>"}
    with pytest.raises(FetchError, match="loopback"):
        fetch_with(feed_server.url("/page"), refuse_private)
    assert feed_server.hits_on("/page") == []


@pytest.mark.one_store
def test_redirect_to_a_file_url_is_refused(feed_server):
    feed_server.routes["/go"] = {"status": 302, "headers": {"Location": "file:///etc/passwd"}}
    with pytest.raises(FetchError, match="non-http"):
        fetch_with(feed_server.url("/go"), None)


@pytest.mark.one_store
def test_address_reached_is_checked_again_after_connecting(feed_server):
    # DNS rebinding: the name resolved to a public address, the connection reached a private
    # one. Simulated with a guard that passes the first (DNS) check only.
    feed_server.routes["/page"] = {"body": "<p>internal</p>"}
    calls = []

    def rebinding(ip):
        calls.append(ip)
        return None if len(calls) == 1 else "a private address"

    with pytest.raises(FetchError, match="it connected to a private address"):
        fetch_with(feed_server.url("/page"), rebinding)
    assert len(calls) == 2


def test_polls_keep_their_connections_open_even_when_every_feed_answers_304(
    feed_server, make_config, run_cli
):
    """Six sources on one host: a poll uses per_host (2) connections, not one per source,
    and a 304 (no body) leaves its connection open for the next request too."""
    sources = {}
    for n in range(6):
        feed_server.routes[f"/f{n}.xml"] = {
            "body": rss([{"title": f"News {n}", "link": f"https://x/{n}"}])
        }
        sources[f"f{n}"] = feed_server.url(f"/f{n}.xml")
    config = make_config(sources)
    assert "6 sources polled, 0 failed, 6 new items" in run_cli(config, "poll").output
    first = feed_server.connections
    result = run_cli(config, "poll")
    assert "6 sources polled, 0 failed, 0 new items" in result.output
    assert result.output.count("not modified") == 6
    assert first <= 2 and feed_server.connections - first <= 2
