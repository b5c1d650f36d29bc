"""When a source is polled next: backoff after failures, the jitter of scheduled polls, and
the due time a claim sets (several daemons share the sources, store/cluster.py)."""

from __future__ import annotations

from watcher.config.model import MAX_INTERVAL


def backoff_delay(interval: float, failures: int) -> float:
    """Seconds to wait after `failures` consecutive failures: doubling, at most 24 h."""
    return min(interval * 2.0 ** max(failures - 1, 0), MAX_INTERVAL)


def jitter(interval: float) -> float:
    """The most a scheduled poll may come late: 10% of its interval, at most a minute."""
    return min(interval * 0.1, 60.0)


def due_after(interval: float) -> float:
    """Seconds after a claim before a source is due again: a little less than its interval,
    so that the next scheduled poll, jittered, finds it due (and another daemon's poll
    later in the interval does not)."""
    return interval - jitter(interval) - min(interval * 0.25, 1.0)
