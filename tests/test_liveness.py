"""Liveness: a frozen scheduler fails /healthz and stops the watchdog pings (in-process)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from conftest import NotifyListener, free_port

from watcher.config import load_config, parse_config
from watcher.daemon.notify import Notifier, watchdog_interval
from watcher.daemon.scheduler import Daemon
from watcher.store import Store


async def eventually(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Await until `condition()` is truthy (checked every 10 ms), failing after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_frozen_scheduler_fails_healthz_and_stops_watchdog_pings(make_config, caplog):
    listener = NotifyListener()
    port = free_port()
    config = load_config(make_config(extra=f'[http]\nlisten = "127.0.0.1:{port}"\n'))
    # A 400 ms watchdog: pings every 200 ms, heartbeat every 100 ms, stale after 300 ms.
    notifier = Notifier({"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "400000"})
    daemon = Daemon(config, Store(config.database), notifier=notifier)
    pings = lambda: listener.lines().count("WATCHDOG=1")  # noqa: E731

    async def scenario() -> None:
        run = asyncio.create_task(daemon.run())
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            codes: list[int] = []

            async def probe() -> int:
                codes.append((await client.get("/healthz")).status_code)
                return codes[-1]

            await eventually(lambda: "READY=1" in listener.lines() and pings() >= 2)
            assert await probe() == 200

            assert daemon.scheduler is not None
            daemon.scheduler.pause()  # jobs stop running: the heartbeat goes stale
            deadline = time.monotonic() + 10
            while await probe() != 503:
                assert time.monotonic() < deadline, "/healthz never answered 503"
                await asyncio.sleep(0.01)
            frozen_at = pings()
            await eventually(lambda: daemon.service.heartbeat_age() > 0.3 + 2 * 0.2)
            assert pings() == frozen_at  # two ping periods passed without a ping

            daemon.scheduler.resume()
            await eventually(lambda: pings() > frozen_at)
            assert await probe() == 200
        daemon.stopping.set()
        await run

    try:
        asyncio.run(scenario())
    finally:
        listener.close()
    assert "not pinging the watchdog: scheduler heartbeat is" in caplog.text
    lines = listener.lines()
    assert lines.index("READY=1") < lines.index("WATCHDOG=1") < lines.index("STOPPING=1")


def test_watchdog_interval_follows_systemds_variables():
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "60000000"}) == 60.0
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}) is None
    assert Notifier({}).send("READY=1") is False  # not under systemd: a no-op


@pytest.mark.parametrize(
    ("listen", "address"),
    [
        ("127.0.0.1:9187", ("127.0.0.1", 9187)),
        (":9187", ("127.0.0.1", 9187)),  # no host: loopback, never all interfaces
        ("[::1]:9187", ("::1", 9187)),
        ("0.0.0.0:9187", ("0.0.0.0", 9187)),
    ],
)
def test_http_listen_defaults_to_loopback(tmp_path, listen, address):
    config = parse_config(f'[http]\nlisten = "{listen}"\n', tmp_path / "c.toml")
    assert config.http_listen == address
    assert parse_config("", tmp_path / "c.toml").http_listen is None  # off by default
