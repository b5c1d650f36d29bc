"""What the log says about failing sources: when one starts failing, while it stays down, and
when it recovers.

Whether a source was failing comes from the database (its `failures` count before the
poll), so a restart does not forget it. A daemon repeats a reminder at most once per
`remind_every` while a source stays down (the first failed poll after a restart reminds at
once); a one-shot `regwatch poll` logs the start of a failure but never reminds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("watcher.pipeline.poll")

REMIND_EVERY = 3600.0  # seconds between two reminders that a source is still failing


class FailureLog:
    """Logs a warning when a source starts failing, reminders while it stays down, and an
    info line when it recovers; `remind_every` None: no reminders (a one-shot poll)."""

    def __init__(
        self,
        remind_every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.remind_every = remind_every
        self.clock = clock
        self._reminded: dict[str, float] = {}  # source -> clock() of its last warning

    def failed(self, source: str, failures_before: int, error: str) -> None:
        """A poll of `source` failed; it had failed `failures_before` times in a row."""
        now = self.clock()
        if failures_before == 0:
            log.warning("source %s is failing: %s", source, error)
            self._reminded[source] = now
            return
        if self.remind_every is None:
            return
        last = self._reminded.get(source)
        if last is None or now - last >= self.remind_every:
            log.warning(
                "source %s still failing (%d polls in a row): %s",
                source,
                failures_before + 1,
                error,
            )
            self._reminded[source] = now

    def succeeded(self, source: str, failures_before: int) -> None:
        """A poll of `source` succeeded after `failures_before` failures in a row."""
        self._reminded.pop(source, None)
        if failures_before:
            log.info("source %s recovered after %d failed polls", source, failures_before)
