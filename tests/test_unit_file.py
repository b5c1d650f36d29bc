"""systemd/regwatch.service: verified silently, locked down, and nothing the daemon needs denied."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from conftest import free_port, rss, wait_until

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "regwatch.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd)"
)


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, timeout=60)


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_unit_runs_as_a_notify_service_with_a_watchdog_and_no_restart_storm():
    s = unit_settings()
    assert s["Type"] == ["notify"] and s["WatchdogSec"] == ["60"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["RestartPreventExitStatus"] == ["3"]  # a config error: restarting cannot help
    assert "StartLimitBurst" in s and "StartLimitIntervalSec" in s
    assert s["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert "@system-service" in s["SystemCallFilter"]
    for key in ("DynamicUser", "NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectHome"):
        assert s[key] == ["yes"], key
    for key in ("StateDirectory", "ConfigurationDirectory", "MemoryMax", "TasksMax", "UMask"):
        assert key in s, key
    assert s["StateDirectoryMode"] == ["0700"] and s["ProtectSystem"] == ["strict"]


@needs_analyze
def test_systemd_analyze_verify_prints_nothing():
    result = analyze("verify", str(UNIT))
    # verify exits 0 even when it warns: any output at all is a failure.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@needs_analyze
def test_exposure_score_is_at_most_1_5():
    result = analyze("security", "--offline=yes", str(UNIT))
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 1.5, result.stdout


STRACE = shutil.which("strace")


def strace_works() -> bool:
    """strace is installed and allowed to trace (containers may forbid ptrace)."""
    if STRACE is None:
        return False
    return subprocess.run([STRACE, "-qq", "-o", "/dev/null", "true"], timeout=30).returncode == 0


@needs_analyze
@pytest.mark.skipif(
    not strace_works(), reason="strace is missing (apt-get install strace) or may not ptrace here"
)
def test_the_daemon_uses_no_system_call_the_unit_denies(
    feed_server, webhook, make_config, start_daemon, tmp_path
):
    """Stand-in for running under the unit (no systemd-run here): trace a daemon through
    start, polls (lxml, SQLite, sockets), an alert, /metrics, a reload and a stop; check
    every system call against SystemCallFilter=@system-service ~@privileged ~@resources and
    every memory mapping against MemoryDenyWriteExecute=yes."""
    allowed = (
        syscall_set("@system-service") - syscall_set("@privileged") - syscall_set("@resources")
    )
    feed_server.routes["/eu.xml"] = {"body": rss([{"title": "OpenAI news", "link": "https://x/1"}])}
    port = free_port()
    config = make_config(
        channels={"hook": webhook.url},
        extra=f'[[sources]]\nname = "eu"\nurl = "{feed_server.url("/eu.xml")}"\n'
        f'alert_first_poll = true\n[http]\nlisten = "127.0.0.1:{port}"\n',
    )
    trace = tmp_path / "trace"
    daemon = start_daemon(config, wrapper=[STRACE, "-f", "-qq", "-o", str(trace)])
    daemon.notify.wait_for("READY=1", timeout=60)
    # Signal the traced daemon itself, not strace (its pid is in the lock file), and make
    # sure it dies with the test: strace, when killed, leaves its tracee running.
    pid = int((config.parent / "regwatch.db.lock").read_text())
    try:
        wait_until(lambda: webhook.posts, 60, "an alert")
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).status_code == 200
        os.kill(pid, signal.SIGHUP)
        daemon.wait_log("reloaded", 60)
        os.kill(pid, signal.SIGTERM)
        assert daemon.wait(60) == 0
    finally:
        if daemon.proc.poll() is None:  # strace still runs, so its tracee does too
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    text = trace.read_text()
    used = {m.group(1) for m in re.finditer(r"^\d+\s+(\w+)\(", text, re.M)}
    # MemoryDenyWriteExecute=yes: no mapping may be writable and executable at once.
    wx = [
        line
        for line in text.splitlines()
        if re.search(r"\b(mmap|mprotect|pkey_mprotect)\(", line)
        and "PROT_WRITE" in line
        and "PROT_EXEC" in line
    ]
    assert not wx, f"MemoryDenyWriteExecute=yes would break: {wx[:3]}"
    if os.geteuid() == 0:
        # SQLite gives its -wal/-journal files the database's owner only when running as
        # root (and ignores a failure); under DynamicUser the daemon is never root.
        used -= syscall_set("@chown")
    denied = used - allowed
    assert not denied, f"the unit's SystemCallFilter would deny {sorted(denied)}"


def syscall_set(group: str) -> set[str]:
    """The system calls in a systemd group, nested groups expanded."""
    out = analyze("syscall-filter", group).stdout
    names: set[str] = set()
    for line in out.splitlines()[1:]:
        word = line.strip().split(" ")[0] if line.strip() else ""
        if word.startswith("@"):
            names |= syscall_set(word)
        elif word and not word.startswith("#"):
            names.add(word)
    return names
