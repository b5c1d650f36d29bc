"""The hit database: every SQL statement of regwatch, behind one `Store`.

The Store is composed of one part per concern, each a module here: the connection and
migrations (base), stories, what a poll writes (polls) with its hits' evidence (evidence),
the outbox (outbox), what people query (queries, search), reviews (review) and upkeep
(maintenance). Callers name what they need
(`save_poll`, `due_work`, `mark_sent`, `query_hits` ...), never a table.
"""

from watcher.store.base import StoreBase
from watcher.store.maintenance import MaintenanceStore, PruneResult, database_size
from watcher.store.outbox import STATUSES, OutboxStore, Outgoing, SourceHealth
from watcher.store.polls import PollStore
from watcher.store.queries import QueryStore
from watcher.store.review import ReviewError, ReviewStore
from watcher.store.search import SearchError


class Store(PollStore, OutboxStore, QueryStore, ReviewStore, MaintenanceStore):
    """The database of one regwatch installation (see the modules of this package)."""


__all__ = [
    "STATUSES",
    "Outgoing",
    "PruneResult",
    "ReviewError",
    "SearchError",
    "SourceHealth",
    "Store",
    "StoreBase",
    "database_size",
]
