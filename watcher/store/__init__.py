"""The hit database: every SQL statement of regwatch, behind one `Store`.

The Store is composed of one part per concern, each a module here: the connection and
migrations (base), stories, what a poll writes (polls) with its hits' evidence (evidence),
the outbox (outbox), what people query (queries, search), reviews (review), upkeep
(maintenance) and several daemons' claims (cluster). Callers name what they need
(`save_poll`, `claim_work`, `mark_sent`, `query_hits` ...), never a table, and never learn
which engine is behind it: SQLite (a file path) or PostgreSQL (a postgresql:// URL). The
engine lives in engine.py and postgres.py, the differences between their SQL in dialect.py
and fulltext.py.
"""

from watcher.store.base import StoreBase
from watcher.store.cluster import LEASE, ClusterStore, node_name
from watcher.store.engine import database_size, is_postgres_url
from watcher.store.maintenance import MaintenanceStore, PruneResult
from watcher.store.outbox import STATUSES, OutboxStore, Outgoing, SourceHealth
from watcher.store.polls import PollStore
from watcher.store.queries import QueryStore
from watcher.store.review import ReviewError, ReviewStore
from watcher.store.search import SearchError


class Store(PollStore, OutboxStore, QueryStore, ReviewStore, MaintenanceStore, ClusterStore):
    """The database of one regwatch installation (see the modules of this package)."""


__all__ = [
    "LEASE",
    "STATUSES",
    "Outgoing",
    "PruneResult",
    "ReviewError",
    "SearchError",
    "SourceHealth",
    "Store",
    "StoreBase",
    "database_size",
    "is_postgres_url",
    "node_name",
]
