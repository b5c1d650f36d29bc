"""The daemon as a service: a real `python -m watcher run` process, signals, notify socket, HTTP."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path

import httpx
from conftest import NotifyListener, free_port, rss, wait_until

OLD = [{"title": "Microsoft opens an office", "link": "https://ec.example.eu/old"}]
NEW = [
    {"title": "Commission looks at OpenAI", "link": "https://ec.example.eu/new1"},
    {"title": "Mistral AI raises funds", "link": "https://ec.example.eu/new2"},
]


def source(name: str, url: str, interval: str = "1s", first: bool = False) -> str:
    return (
        f'[[sources]]\nname = "{name}"\nurl = "{url}"\ninterval = "{interval}"\n'
        f"alert_first_poll = {str(first).lower()}\n"
    )


def test_notify_ready_status_watchdog_stopping_in_order(
    feed_server, make_config, start_daemon, run_cli
):
    feed_server.routes["/eu.xml"] = {"body": rss(OLD)}
    config = make_config(extra=source("eu", feed_server.url("/eu.xml")))
    daemon = start_daemon(config, "--log-format", "json", env={"WATCHDOG_USEC": "1000000"})
    notify = daemon.notify

    ready = notify.wait_for("READY=1")
    polled = wait_until(
        lambda: next(
            (
                i
                for i, line in enumerate(notify.lines())
                if i > ready
                and line.startswith("STATUS=1 sources, last poll ")
                and "none yet" not in line
            ),
            None,
        ),
        what="a STATUS line after a poll",
    )
    assert "0 failing" in notify.lines()[polled]
    ping = notify.wait_for("WATCHDOG=1", after=ready)
    assert "WATCHDOG=1" not in notify.lines()[:ready]  # no liveness claim before readiness

    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    lines = notify.lines()
    stopping = lines.index("STOPPING=1")
    assert ready < ping < stopping
    assert "WATCHDOG=1" not in lines[stopping:]

    # --log-format json: every line is a JSON object; a poll-cycle summary at INFO.
    records = [json.loads(line) for line in daemon.stderr]
    cycles = [r for r in records if r["message"].startswith("poll cycle:")]
    assert cycles and cycles[-1]["level"] == "info" and cycles[-1]["errors"] == 0
    assert cycles[-1]["polls"] >= 1 and cycles[-1]["sources"] == 1

    status = run_cli(config, "status")
    assert status.exit_code == 1 and "daemon: not running" in status.output


def test_second_daemon_on_the_same_database_is_refused(
    feed_server, make_config, start_daemon, run_cli
):
    feed_server.routes["/eu.xml"] = {"body": rss(NEW)}
    config = make_config(extra=source("eu", feed_server.url("/eu.xml")))
    daemon = start_daemon(config)
    daemon.notify.wait_for("READY=1")
    wait_until(lambda: run_cli(config, "hits", "--format", "json").output.strip() != "[]")

    second = run_cli(config, "run")
    assert second.exit_code == 4
    assert f"another regwatch daemon (pid {daemon.proc.pid}) is already running" in second.output

    # Readers keep working while the daemon runs.
    status = run_cli(config, "status")
    assert status.exit_code == 0, status.output
    assert f"daemon: running (pid {daemon.proc.pid}, up" in status.output
    assert "sources: 1, failing: 0" in status.output and "regwatch.db (" in status.output
    assert "deliveries: 0 pending, 0 failed, 0 dead" in status.output
    report = json.loads(run_cli(config, "status", "--format", "json").output)
    assert report["daemon"]["running"] and report["daemon"]["heartbeat_age_seconds"] < 30
    assert len(json.loads(run_cli(config, "hits", "--format", "json").output)) == 2

    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    assert "already running" not in daemon.log()


def test_sighup_swaps_sources_and_channels_and_keeps_the_old_config_on_error(
    feed_server, webhook, make_config, start_daemon, tmp_path
):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "hook").write_text(webhook.url + "\n")
    feed_server.routes["/a.xml"] = {"body": rss(OLD)}
    feed_server.routes["/b.xml"] = {"body": rss(NEW)}
    config = make_config(extra=source("a", feed_server.url("/a.xml")))
    daemon = start_daemon(config, env={"CREDENTIALS_DIRECTORY": str(creds)})
    ready = daemon.notify.wait_for("READY=1")
    wait_until(lambda: feed_server.hits_on("/a.xml"), what="a first poll of source a")

    # Valid: source a goes, source b (alerting at once) and a credential channel come.
    config.write_text(
        config.read_text().replace(source("a", feed_server.url("/a.xml")), "")
        + source("b", feed_server.url("/b.xml"), first=True)
        + '[[channels]]\nname = "hook"\nurl = "${credential:hook}"\n'
    )
    daemon.signal(signal.SIGHUP)
    reloading = daemon.notify.wait_for("RELOADING=1", after=ready)
    daemon.notify.wait_for("READY=1", after=reloading)
    daemon.wait_log("reloaded")
    assert "1 added, 1 removed" in daemon.log()
    wait_until(lambda: len(webhook.posts) == 2, what="alerts for source b's hits")
    assert sorted(p["title"] for p in webhook.posts) == [
        "[regwatch] Mistral AI: Mistral AI raises funds",
        "[regwatch] OpenAI: Commission looks at OpenAI",
    ]
    polls_of_a = len(feed_server.hits_on("/a.xml"))
    seen_b = len(feed_server.hits_on("/b.xml"))
    wait_until(lambda: len(feed_server.hits_on("/b.xml")) >= seen_b + 2, what="b polled again")
    assert len(feed_server.hits_on("/a.xml")) <= polls_of_a + 1  # at most one already in flight

    # Invalid: an unknown key. The daemon says why and goes on with the previous config.
    good = config.read_text()
    config.write_text(good.replace('name = "b"', 'name = "b"\nintervall = "5m"'))
    daemon.signal(signal.SIGHUP)
    daemon.wait_log("reload failed, still running the previous config")
    assert "sources[0].intervall: unknown key" in daemon.log()
    seen_b = len(feed_server.hits_on("/b.xml"))
    wait_until(lambda: len(feed_server.hits_on("/b.xml")) > seen_b, what="b still polled")
    assert daemon.proc.poll() is None

    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0


def blocking_route(body: str) -> tuple[dict[str, object], threading.Event]:
    """A feed route that answers only once the returned event is set."""
    release = threading.Event()

    def handler(request) -> None:
        release.wait(30)
        data = body.encode()
        # The client may be gone (an abandoned poll): that is the point, not an error.
        with contextlib.suppress(OSError):
            request.send_response(200)
            request.send_header("Content-Type", "application/rss+xml")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)

    return {"handler": handler}, release


def test_sigterm_during_a_poll_lets_it_finish_and_commit(
    feed_server, make_config, start_daemon, run_cli
):
    route, release = blocking_route(rss(NEW))
    feed_server.routes["/slow.xml"] = route
    config = make_config(extra=source("slow", feed_server.url("/slow.xml"), interval="1h"))
    daemon = start_daemon(config, run_args=("--stop-grace", "20s"))
    try:
        wait_until(lambda: feed_server.hits_on("/slow.xml"), what="the poll to start")
        daemon.signal(signal.SIGTERM)
        daemon.notify.wait_for("STOPPING=1")
        daemon.wait_log("waiting up to 20s for 1 in flight")
    finally:
        release.set()
    assert daemon.wait() == 0, daemon.log()
    hits = json.loads(run_cli(config, "hits", "--format", "json").output)
    assert {h["entity"] for h in hits} == {"OpenAI", "Mistral AI"}
    assert len(feed_server.hits_on("/slow.xml")) == 1  # no new poll once stopping


def test_sigterm_abandons_a_stuck_poll_after_the_grace_period(
    feed_server, make_config, start_daemon, run_cli
):
    route, release = blocking_route(rss(NEW))
    feed_server.routes["/stuck.xml"] = route
    feed_server.routes["/ok.xml"] = {"body": rss(OLD)}
    config = make_config(
        extra=source("stuck", feed_server.url("/stuck.xml"), interval="1h")
        + source("ok", feed_server.url("/ok.xml"), interval="1h")
    )

    def statuses() -> dict[str, str]:
        out = run_cli(config, "sources", "--format", "json").output
        return {r["name"]: r["status"] for r in json.loads(out)}

    daemon = start_daemon(config, run_args=("--stop-grace", "0.3s"))
    try:
        wait_until(lambda: feed_server.hits_on("/stuck.xml"), what="the stuck poll to start")
        wait_until(lambda: statuses()["ok"] == "ok", what="the other source's poll")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        release.set()
    assert "abandoned 1 polls still running after the grace period" in daemon.log()
    assert statuses() == {"stuck": "never polled", "ok": "ok"}


def test_healthz_and_metrics_over_http(feed_server, webhook, make_config, start_daemon):
    port = free_port()
    feed_server.routes["/eu.xml"] = {"body": rss(NEW)}
    config = make_config(
        channels={"hook": webhook.url},
        extra=source("eu", feed_server.url("/eu.xml"), first=True)
        + f'[http]\nlisten = "127.0.0.1:{port}"\n',
    )
    daemon = start_daemon(config)
    daemon.notify.wait_for("READY=1")
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: len(webhook.posts) == 2, what="two alerts sent")

    health = httpx.get(base + "/healthz")
    assert health.status_code == 200 and health.text.startswith("ok: 1 sources")

    def scrape() -> str:
        page = httpx.get(base + "/metrics")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/plain; version=0.0.4")
        return page.text

    def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        from prometheus_client.parser import text_string_to_metric_families

        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(scrape())
            for s in family.samples
        }

    node = ("node", f"{socket.gethostname()}:{daemon.proc.pid}")  # every sample: which daemon
    sent = ("regwatch_deliveries", (("channel", "hook"), node, ("status", "sent")))
    wait_until(lambda: samples().get(sent) == 2.0, what="sent deliveries in /metrics")
    found = samples()
    eu = ("source", "eu")
    for name, labels, value in (
        ("regwatch_polls_total", (node, eu, ("status", "ok")), None),
        ("regwatch_items_total", (node, eu), 2.0),
        ("regwatch_hits_total", (node, eu), 2.0),
        ("regwatch_fetch_bytes_total", (node, eu), None),
        ("regwatch_poll_duration_seconds_bucket", (("le", "+Inf"), node), None),
        ("regwatch_last_success_timestamp_seconds", (node, eu), None),
        ("regwatch_source_failures", (node, eu), 0.0),
        ("regwatch_heartbeat_age_seconds", (node,), None),
    ):
        assert (name, labels) in found, (name, labels)
        assert value is None or found[(name, labels)] == value, name
    assert all(dict(labels).get("node") == node[1] for _, labels in found)
    assert httpx.get(base + "/nope").status_code == 404
    assert httpx.post(base + "/healthz").status_code == 405

    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0


def test_a_broken_config_fails_fast_with_the_config_exit_status(make_config, run_cli, monkeypatch):
    listener = NotifyListener()
    monkeypatch.setenv("NOTIFY_SOCKET", listener.path)
    config: Path = make_config(extra='[http]\nlisten = "nowhere"\n')
    try:
        result = run_cli(config, "run")
        assert result.exit_code == 3  # RestartPreventExitStatus=3 in the unit
        assert "http.listen: 'nowhere' is not HOST:PORT" in result.output
        # `systemctl status` shows why, and systemd never hears READY=1.
        status = listener.wait_for("STATUS=")
        assert "http.listen: 'nowhere' is not HOST:PORT" in listener.lines()[status]
        assert "READY=1" not in listener.lines()
    finally:
        listener.close()


def test_daemon_ends_on_sigterm_when_nobody_reads_its_notify_socket(
    feed_server, make_config, start_daemon, tmp_path
):
    """Issue 15.6: the notify socket's queue is full (its reader stopped): the daemon's
    messages are dropped instead of blocking it, and SIGTERM still ends it."""
    feed_server.routes["/eu.xml"] = {"body": rss(OLD)}
    config = make_config(extra=source("eu", feed_server.url("/eu.xml")))
    folder = Path(tempfile.mkdtemp(prefix="rw-deaf-"))  # AF_UNIX paths: at most 108 bytes
    path = str(folder / "notify.sock")
    deaf = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    deaf.bind(path)  # never read
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    filler.setblocking(False)
    try:
        with contextlib.suppress(BlockingIOError):
            while True:
                filler.sendto(b"STATUS=filler", path)
        daemon = start_daemon(
            config,
            "--log-level",
            "debug",
            env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"},
        )
        daemon.wait_log("regwatch running as node")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
        assert "its queue is full, dropped" in daemon.log() and "stopped" in daemon.log()
    finally:
        filler.close()
        deaf.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_daemon_logs_a_source_failing_and_recovering(feed_server, make_config, start_daemon):
    """Issue 15.7: journald shows more than the start line when a source fails."""
    feed_server.routes["/eu.xml"] = {"status": 500, "body": "oops"}
    config = make_config(extra=source("eu", feed_server.url("/eu.xml")))
    daemon = start_daemon(config)
    daemon.wait_log("WARNING watcher.pipeline.poll: source eu is failing: HTTP 500")
    feed_server.routes["/eu.xml"] = {"body": rss(OLD)}
    daemon.wait_log("source eu recovered after")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0


def test_vacuum_runs_next_to_the_daemon(feed_server, make_config, start_daemon, run_cli):
    """As operations.md promises: `regwatch vacuum` and the daemon's writes take turns."""
    feed_server.routes["/eu.xml"] = {"body": rss(NEW)}
    config = make_config(extra=source("eu", feed_server.url("/eu.xml")))
    daemon = start_daemon(config)
    daemon.notify.wait_for("READY=1")
    wait_until(lambda: run_cli(config, "hits", "--format", "json").output.strip() != "[]")
    for _ in range(3):
        result = run_cli(config, "vacuum")
        assert result.exit_code == 0, result.output
    polls = len(feed_server.hits_on("/eu.xml"))
    # The daemon polled (and wrote) again after the vacuums: it was not locked out.
    wait_until(lambda: len(feed_server.hits_on("/eu.xml")) > polls + 1, what="two more polls")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    assert "locked" not in daemon.log() and "database unavailable" not in daemon.log()
