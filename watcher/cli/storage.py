"""Commands about the database itself: `regwatch store copy` (SQLite into PostgreSQL)."""

from __future__ import annotations

import click

from watcher.cli.base import cli, reports_errors
from watcher.cli.progress import progress
from watcher.errors import WatcherError
from watcher.output import render


@cli.group("store")
def store_group() -> None:
    """Work on regwatch databases as a whole: copy one into another.

    Example: regwatch store copy --from regwatch.db --to postgresql://regwatch@db/regwatch
    """


@store_group.command("copy")
@click.option("--from", "source", required=True, help="The database to copy: a path or a URL.")
@click.option("--to", "target", required=True, help="An empty database: a path or a URL.")
@reports_errors
def store_copy(source: str, target: str) -> None:
    """Copy a database into an empty one: items, hits, stories, deliveries with their
    states, digests and health alerts, source states, evidence and the review log.

    Moves a SQLite database into PostgreSQL (or back). The source may be in use: the copy
    is of one moment. The target is migrated first and must hold nothing yet; the copy is
    one transaction, so a failed one leaves it empty. Rows are counted on both sides and
    compared (exit status 1 when they differ). Put the password in PGPASSWORD or
    ~/.pgpass rather than in the URL, which others on this machine may see.

    Example: regwatch store copy --from regwatch.db --to postgresql://regwatch@db/regwatch
    """
    from watcher.store import Store
    from watcher.store.copy import copy_store, row_counts

    origin = Store(source, readonly=True)
    destination = Store(target)
    click.echo(f"copying {origin.label} to {destination.label}", err=True)
    with progress(sum(row_counts(origin).values()), "Copying rows") as advance:
        counts = copy_store(origin, destination, advance)
    origin.close()
    destination.close()
    rows = [{"table": t, "from": a, "to": b} for t, (a, b) in counts.items()]
    click.echo(render(rows, "table"))
    differ = [t for t, (a, b) in counts.items() if a != b]
    if differ:
        raise WatcherError(
            f"the counts differ for {', '.join(differ)}",
            hint="the target was left as copied: compare it with the source before using it",
        )
    click.echo(f"copied {sum(a for a, _ in counts.values()):,} rows; every count matches")
