"""`regwatch serve` on PostgreSQL: a thread that keeps the SQLite copy the web view reads.

Datasette reads SQLite only, so the hit tables are copied into a SQLite file
(store/snapshot.py) and refreshed incrementally every minute, or at once when someone asks
(`/-/refresh`). Everything else is the same web view: the copy is a regwatch database.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

from watcher.errors import WatcherError
from watcher.store import Store
from watcher.store.snapshot import Snapshot

log = logging.getLogger(__name__)

REFRESH_EVERY = 60.0  # seconds between refreshes of the copy


def snapshot_path(url: str) -> Path:
    """Where the copy of a PostgreSQL database goes by default: the cache folder
    ($CACHE_DIRECTORY under systemd, else $XDG_CACHE_HOME or ~/.cache), one per database.

    The file is named regwatch.db so the web view's pages have the same addresses as over
    a SQLite store.
    """
    base = os.environ.get("CACHE_DIRECTORY") or os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return Path(base).expanduser() / "regwatch" / f"snapshot-{digest}" / "regwatch.db"


class Refresher:
    """Refreshes the copy in its own thread (the SQLite connection stays in that thread)."""

    def __init__(self, url: str, path: Path, every: float = REFRESH_EVERY) -> None:
        self.url = url
        self.path = path
        self.every = every
        self.attempts = 0  # refreshes tried
        self.refreshed = 0  # refreshes done
        self.refreshed_at: str | None = None
        self.error: WatcherError | None = None
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="snapshot", daemon=True)

    def start(self, timeout: float = 600.0) -> None:
        """Start refreshing; returns after the first refresh, or raises its error."""
        self._thread.start()
        if not self.wait(0, timeout):
            raise WatcherError(
                f"the copy of the database for the web view took over {timeout:.0f}s",
                hint="it goes on in the background; try again in a moment",
            )
        if self.error is not None and not self.refreshed:
            raise self.error

    def request(self, timeout: float = 60.0) -> bool:
        """Refresh now; True once done (False when it took longer than `timeout`)."""
        with self._done:
            seen = self.attempts
        self._wake.set()
        return self.wait(seen, timeout) and self.error is None

    def kick(self) -> None:
        """Refresh soon, without waiting for it."""
        self._wake.set()

    def wait(self, seen: int, timeout: float) -> bool:
        """True once more than `seen` refreshes were tried (False after `timeout`)."""
        with self._done:
            return self._done.wait_for(lambda: self.attempts > seen, timeout)

    def stop(self) -> None:
        self._stop = True
        self._wake.set()

    def _run(self) -> None:
        try:
            snapshot = Snapshot(Store(self.url, readonly=True), Store(self.path))
        except WatcherError as exc:
            with self._done:
                self.error = exc
                self.attempts += 1
                self._done.notify_all()
            return
        while not self._stop:
            try:
                counts = snapshot.refresh()
            except WatcherError as exc:
                log.warning("web view: cannot refresh the copy of the database: %s", exc)
                with self._done:
                    self.error = exc
                    self.attempts += 1
                    self._done.notify_all()
            else:
                log.info(
                    "web view: copy refreshed (%s)",
                    ", ".join(f"{n} {t}" for t, n in counts.items()) or "no change",
                )
                with self._done:
                    self.error = None
                    self.attempts += 1
                    self.refreshed += 1
                    self.refreshed_at = snapshot.refreshed_at()
                    self._done.notify_all()
            self._wake.wait(self.every)
            self._wake.clear()
