"""The `regwatch` command line, one module per command group over a small base:

polling (run, poll), upkeep (status, vacuum, reindex), query (hits, search, stats, sources,
serve), delivery (deliveries, test-alert), configure (check, init, demo), matching
(explain, match, rematch), record (evidence, review, review-log, web-password) and storage
(store copy).
"""

from watcher.cli import configure, delivery, matching, polling, query, record, storage, upkeep
from watcher.cli.base import cli

__all__ = [
    "cli",
    "configure",
    "delivery",
    "matching",
    "polling",
    "query",
    "record",
    "storage",
    "upkeep",
]
