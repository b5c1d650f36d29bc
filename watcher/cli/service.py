"""Commands that run regwatch: the daemon, one poll, its status, database upkeep."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import click

from watcher.cli import cli, config_option, get_config, reports_errors
from watcher.config import parse_duration
from watcher.errors import WatcherError
from watcher.output import render
from watcher.store import Store

PROGRESS_MIN = 5  # sources from which `poll` shows a progress bar (on a terminal)

# -- daemon and polling -------------------------------------------------------------------------


@cli.command()
@config_option
@click.option(
    "--stop-grace",
    default="5s",
    show_default=True,
    help="On SIGTERM, how long in-flight polls may finish before they are abandoned.",
)
@click.pass_context
@reports_errors
def run(ctx: click.Context, stop_grace: str) -> None:
    """Run the daemon: poll each source at its interval and send alerts.

    Stops cleanly on SIGTERM or Ctrl-C; SIGHUP reloads the config. Under systemd it
    reports readiness, status and liveness (Type=notify, WatchdogSec=). Only one daemon
    runs per database. Logs go to standard error (journald under systemd).

    Example: regwatch run --config /etc/regwatch/regwatch.toml --stop-grace 20s
    """
    from watcher.daemon import run_daemon
    from watcher.lock import DaemonLock
    from watcher.notify import Notifier

    try:
        grace = parse_duration(stop_grace)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--stop-grace") from None
    try:
        config = get_config(ctx)
        with DaemonLock(config.storage_path):
            run_daemon(config, Store(config.storage_path), stop_grace=grace)
    except WatcherError as exc:
        Notifier().status(f"failed: {exc.message}")  # shown by `systemctl status`
        raise


@cli.command()
@config_option
@click.option("--source", "-s", "names", multiple=True, help="Poll only this source (repeatable).")
@click.option(
    "--due",
    is_flag=True,
    help="Skip sources backing off after errors or deferred by Retry-After (for cron).",
)
@click.pass_context
@reports_errors
def poll(ctx: click.Context, names: tuple[str, ...], due: bool = False) -> None:
    """Poll every source once, send alerts, print a summary and exit.

    Exits 0 even when some sources failed (they are listed); non-zero only for a
    config or storage error. Sources backing off after errors are polled too, unless
    --due (the daemon always waits for them).

    Example: regwatch poll --source ec-presscorner
    """
    from watcher.alert import dispatch
    from watcher.daemon import print_hits
    from watcher.digest import queue_digests
    from watcher.health import check_health
    from watcher.outbox import utcnow
    from watcher.poll import poller_session
    from watcher.progress import progress

    config = get_config(ctx)
    sources = [config.source(n) for n in names] if names else None
    store = Store(config.storage_path)

    chosen = [s for s in (sources or config.sources) if s.enabled]

    async def go(advance: Callable[[int], None]) -> tuple[list[Any], tuple[int, int]]:
        async with poller_session(config, store) as poller:
            results = await poller.poll_all(sources, force=not due, on_done=lambda _r: advance(1))
        for r in results:
            check_health(config, store, config.source(r.source), utcnow())
        queue_digests(store, config.channels, utcnow())
        return results, await dispatch(store, config.channels, delivery=config.delivery)

    # A bar only where it helps: many sources (a first poll takes a while), on a terminal.
    with progress(len(chosen) if len(chosen) >= PROGRESS_MIN else 0, "Polling") as advance:
        results, (sent, failed) = asyncio.run(go(advance))
    for r in results:
        if not config.channels:
            print_hits(r)
    rows = [
        {
            "source": r.source,
            "status": r.status,
            "new": r.new_items,
            "hits": len(r.hits),
            "note": r.error or ("" if r.alerted or not r.hits else "first poll: not alerted"),
        }
        for r in results
    ]
    click.echo(render(rows, "table"))
    errors = sum(1 for r in results if r.error)
    click.echo(
        f"{len(results)} sources polled, {errors} failed, "
        f"{sum(r.new_items for r in results)} new items, "
        f"{sum(len(r.hits) for r in results)} hits; alerts: {sent} sent, {failed} failed"
    )
    deferred = sum(1 for r in results if r.status == "deferred")
    if deferred:
        click.echo(
            f"{deferred} sources deferred (backing off after errors); without --due they are polled"
        )


@cli.command()
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_context
@reports_errors
def status(ctx: click.Context, fmt: str) -> None:
    """Is the daemon up, since when, which sources fail, what is waiting to be sent.

    Reads the database and the daemon's lock file; works while the daemon runs.
    Exit status 1 when the daemon is not running.

    Example: regwatch --config /etc/regwatch/regwatch.toml status
    """
    import json

    from watcher.status import collect_status, format_status

    report = collect_status(get_config(ctx))
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo("\n".join(format_status(report)))
    if not report["daemon"]["running"]:
        sys.exit(1)


@cli.command()
@click.pass_context
@reports_errors
def vacuum(ctx: click.Context) -> None:
    """Prune by [storage] retention, checkpoint the WAL and VACUUM the database.

    Safe while the daemon runs (it waits for the database meanwhile).

    Example: regwatch vacuum
    """
    from watcher.retention import prune
    from watcher.retention import vacuum as vacuum_db

    config = get_config(ctx)
    store = Store(config.storage_path)
    pruned = prune(store, config.retention, config.retention_hits)
    click.echo(
        f"pruned {pruned.items} items without hits, {pruned.hits} hits, "
        f"{pruned.deliveries} deliveries"
    )
    before, after = vacuum_db(store)
    store.close()
    click.echo(f"database {config.storage_path}: {before / 1e6:.2f} MB -> {after / 1e6:.2f} MB")
