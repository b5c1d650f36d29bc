"""What the web view's pages share: the database, the [web] settings and who is signed in.

Datasette reads the database read-only. The reviewer's pages read through regwatch's Store
(read-only too, one connection per request in a worker thread); a review is the one thing
a web request may write, through a writable Store opened for that review alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from watcher.config.model import Web
from watcher.model import Review
from watcher.store import ReviewError, Store
from watcher.store.migrations import MIGRATIONS

T = TypeVar("T")
ACTOR_COOKIE = "ds_actor"  # Datasette's own signed actor cookie


@dataclass(frozen=True)
class Site:
    path: Path
    web: Web

    async def read(self, func: Callable[[Store], T]) -> T:
        """`func(store)` on a read-only Store, in a worker thread."""

        def run() -> T:
            store = Store(self.path, readonly=True)
            try:
                return func(store)
            finally:
                store.close()

        return await asyncio.to_thread(run)

    async def review(
        self, hit_ids: list[int], status: str, by: str, note: str | None
    ) -> list[Review]:
        """Record a review through a writable Store: the only write a web request makes."""

        def run() -> list[Review]:
            # Opening a writable Store applies pending migrations: not a web request's job.
            reader = Store(self.path, readonly=True)
            pending = [name for name, _ in MIGRATIONS if name not in set(reader.migrations())]
            reader.close()
            if pending:
                raise ReviewError(
                    "this database was made by an older regwatch: reviews wait for its upgrade",
                    hint="restart the daemon, or run `regwatch poll` once",
                )
            store = Store(self.path)
            try:
                return store.review_hits(hit_ids, status, by, note)
            finally:
                store.close()

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
