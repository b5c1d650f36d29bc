"""The `regwatch` command line, one module per command group over a small base:

polling (run, poll), upkeep (status, vacuum, reindex), query (hits, search, stats, sources,
serve), delivery (deliveries, test-alert), configure (check, init, demo) and matching
(explain, match, rematch), record (evidence, review, review-log, web-password).
"""

from watcher.cli import configure, delivery, matching, polling, query, record, upkeep
from watcher.cli.base import cli

__all__ = ["cli", "configure", "delivery", "matching", "polling", "query", "record", "upkeep"]
