"""One daemon per database: an exclusive flock on a file next to the database.

The kernel drops the lock when the process dies, however it dies, so a stale lock file
never blocks a restart. CLI readers never take it and keep working while the daemon runs.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from watcher.errors import StorageError


def lock_path(db_path: Path) -> Path:
    """The lock file of a database: regwatch.db -> regwatch.db.lock."""
    return db_path.with_name(db_path.name + ".lock")


class DaemonLock:
    """Held by the running daemon; `acquire` raises StorageError when another one holds it."""

    def __init__(self, db_path: Path) -> None:
        self.path = lock_path(db_path)
        self.fd: int | None = None

    def acquire(self) -> DaemonLock:
        """Take the lock and write our pid into the file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if not _try_lock(fd):
            os.close(fd)
            pid = read_pid(self.path)
            raise StorageError(
                f"another regwatch daemon{f' (pid {pid})' if pid else ''} is already running "
                f"on this database ({self.path.with_suffix('')})",
                hint="stop it first (systemctl stop regwatch), or give this config its own "
                "[storage] path; `regwatch status` shows the running one",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (the file stays: unlinking it would race a starting daemon)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> DaemonLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_lock(fd: int, tries: int = 20) -> bool:
    # `regwatch status` holds a shared lock for a few microseconds while it looks: retry
    # briefly so a daemon starting at that instant is not refused.
    for attempt in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            if attempt < tries - 1:
                time.sleep(0.05)
    return False


def read_pid(path: Path) -> int | None:
    """The pid written in a lock file, if any."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def holder_pid(db_path: Path) -> int | None:
    """The pid of the daemon running on this database, or None when none runs.

    Asks the kernel (F_GETLK-style, through a shared non-blocking flock on a read-only
    handle) rather than trusting the pid in the file, which may be stale.
    """
    path = lock_path(db_path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return read_pid(path) or -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
