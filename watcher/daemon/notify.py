"""The systemd notify protocol: a datagram of KEY=VALUE lines to $NOTIFY_SOCKET.

Spoken directly (a few lines) so there is no libsystemd build dependency. Outside
systemd, with no NOTIFY_SOCKET, every call is a no-op.

Messages are sent without blocking (MSG_DONTWAIT): when the receiver does not read and its
queue is full, a blocking sendto would stop the event loop, and with it SIGTERM handling.
A message that cannot go out at once is dropped (a missed watchdog ping is the manager's
to judge) and logged at debug.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


class Notifier:
    """Tells the service manager about readiness, status, liveness and shutdown."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_seconds = watchdog_interval(env)
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send one datagram, never waiting; False (logged at DEBUG) when it was not sent."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(lines).encode(), socket.MSG_DONTWAIT, self.address)
            return True
        except BlockingIOError:
            log.debug("sd_notify to %r: its queue is full, dropped %s", self.address, lines)
            return False
        except OSError as exc:
            log.debug("sd_notify to %r failed: %s", self.address, exc)
            return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd (>= 253, Type=notify-reload) tie this to the reload.
        return self.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str = "") -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _address(value: str) -> str | None:
    if not value:
        return None
    if value.startswith("@"):  # an abstract socket
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None  # vsock:// and others: not spoken here


def watchdog_interval(env: dict[str, str]) -> float | None:
    """The watchdog timeout in seconds when systemd asks this process to ping, else None."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (e.g. a wrapper that exec'd us is fine)
    return int(usec) / 1_000_000
