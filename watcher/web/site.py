"""What the web view's pages share: the database, the [web] settings and who is signed in.

Datasette reads the database read-only. The reviewer's pages read through regwatch's Store
(read-only too, one connection per request in a worker thread); a review is the one thing
a web request may write, through a writable Store opened for that review alone. Over
PostgreSQL (`database` is its URL) the pages and reviews use PostgreSQL itself, through one
read-only and one writable Store kept for the site (their connection pools serve every
thread), while Datasette reads its refreshed copy: a review asks for a refresh.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from watcher.config.model import Web
from watcher.model import Review
from watcher.store import ReviewError, Store, is_postgres_url
from watcher.store.migrations import MIGRATIONS
from watcher.web.refresh import Refresher

T = TypeVar("T")
ACTOR_COOKIE = "ds_actor"  # Datasette's own signed actor cookie


@dataclass
class Site:
    database: str  # the store: a SQLite path, or a PostgreSQL URL
    web: Web
    refresher: Refresher | None = None  # keeps Datasette's copy of a PostgreSQL store
    _shared: dict[bool, Store] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def _store(self, readonly: bool) -> Iterator[Store]:
        """A Store for one request: SQLite's opened and closed (a connection stays in its
        thread); PostgreSQL's kept and shared."""
        if not is_postgres_url(self.database):
            store = Store(self.database, readonly=readonly)
            try:
                yield store
            finally:
                store.close()
            return
        with self._lock:
            if readonly not in self._shared:
                self._shared[readonly] = Store(self.database, readonly=readonly)
            store = self._shared[readonly]
        yield store

    async def read(self, func: Callable[[Store], T]) -> T:
        """`func(store)` on a read-only Store, in a worker thread."""

        def run() -> T:
            with self._store(readonly=True) as store:
                return func(store)

        return await asyncio.to_thread(run)

    async def review(
        self, hit_ids: list[int], status: str, by: str, note: str | None
    ) -> list[Review]:
        """Record a review through a writable Store: the only write a web request makes."""

        def run() -> list[Review]:
            # Opening a writable Store applies pending migrations: not a web request's job.
            with self._store(readonly=True) as reader:
                done = set(reader.migrations())
            if [name for name, _ in MIGRATIONS if name not in done]:
                raise ReviewError(
                    "this database was made by an older regwatch: reviews wait for its upgrade",
                    hint="restart the daemon, or run `regwatch poll` once",
                )
            with self._store(readonly=False) as store:
                logged = store.review_hits(hit_ids, status, by, note)
            if self.refresher is not None:
                self.refresher.kick()  # Datasette's pages show the new status soon
            return logged

        return await asyncio.to_thread(run)

    def account(self, datasette: Any, cookies: dict[str, str]) -> str | None:
        """The signed-in account's name, if the actor cookie is valid and the account exists."""
        signed = cookies.get(ACTOR_COOKIE)
        if not signed:
            return None
        try:
            actor = datasette.unsign(signed, "actor").get("a") or {}
        except Exception:  # noqa: BLE001 - a forged or stale cookie is no sign-in
            return None
        name = actor.get("id") if isinstance(actor, dict) else None
        if not isinstance(name, str) or self.web.account(name) is None:
            return None
        return name


def site_of(datasette: Any) -> Site:
    """The Site a Datasette was made for (see make_datasette)."""
    site = getattr(datasette, "regwatch_site", None)
    if not isinstance(site, Site):
        raise RuntimeError("this Datasette was not made by watcher.web.make_datasette")
    return site
