"""Commands that poll: the daemon (`run`) and one cycle (`poll`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import nullcontext

import click

from watcher.cli.base import cli, config_option, duration, get_config, reports_errors
from watcher.cli.progress import progress
from watcher.errors import WatcherError
from watcher.model import PollResult
from watcher.output import render
from watcher.store import Store

PROGRESS_MIN = 5  # sources from which `poll` shows a progress bar (on a terminal)


@cli.command()
@config_option
@click.option(
    "--stop-grace",
    default="5s",
    show_default=True,
    help="On SIGTERM, how long in-flight polls may finish before they are abandoned.",
)
@click.option(
    "--node",
    envvar="REGWATCH_NODE",
    help="This daemon's name among several on one database (default: hostname:pid). "
    "Also read from $REGWATCH_NODE.",
)
@click.pass_context
@reports_errors
def run(ctx: click.Context, stop_grace: str, node: str | None = None) -> None:
    """Run the daemon: poll each source at its interval and send alerts.

    Stops cleanly on SIGTERM or Ctrl-C; SIGHUP reloads the config. Under systemd it
    reports readiness, status and liveness (Type=notify, WatchdogSec=). On SQLite one
    daemon runs per database; on PostgreSQL several share the sources and the alerts.
    Logs go to standard error (journald under systemd).

    Example: regwatch run --config /etc/regwatch/regwatch.toml --stop-grace 20s
    """
    from watcher.daemon.lock import DaemonLock
    from watcher.daemon.notify import Notifier
    from watcher.daemon.scheduler import run_daemon

    grace = duration(stop_grace, "--stop-grace")
    try:
        config = get_config(ctx)
        # One daemon per SQLite file (the kernel's lock); PostgreSQL coordinates many.
        lock = DaemonLock(config.storage_path) if config.storage_path else nullcontext()
        with lock:
            run_daemon(
                config,
                Store(config.database, busy_timeout=config.busy_timeout),
                stop_grace=grace,
                node=node,
            )
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
    from watcher.alert.outbox import Dispatcher
    from watcher.daemon.cycle import CycleResult, hit_lines, run_cycle
    from watcher.pipeline.poll import poller_session

    config = get_config(ctx)
    chosen = [config.source(n) for n in names] if names else list(config.sources)
    chosen = [s for s in chosen if s.enabled]
    store = Store(config.database, busy_timeout=config.busy_timeout)
    # What is printed of each source's hits, kept as each source is done instead of the
    # hits' items and mentions (a first poll of 300 feeds finds thousands).
    printed: dict[str, list[str]] = {}

    def done(result: PollResult, advance: Callable[[int], None]) -> None:
        advance(1)
        if not config.channels:
            printed[result.source] = hit_lines(result)
        result.hits = []  # stored; the summary counts result.hit_ids

    async def go(advance: Callable[[int], None]) -> CycleResult:
        dispatcher = Dispatcher(
            store, config.channels, config.delivery, base_url=config.web.base_url
        )
        async with poller_session(config, store) as poller:
            return await run_cycle(
                config,
                store,
                poller,
                dispatcher,
                chosen,
                force=not due,
                on_done=lambda result: done(result, advance),
            )

    # A bar only where it helps: many sources (a first poll takes a while), on a terminal.
    with progress(len(chosen) if len(chosen) >= PROGRESS_MIN else 0, "Polling") as advance:
        cycle = asyncio.run(go(advance))
    results = cycle.polls
    for r in results:
        for line in printed.get(r.source, []):
            click.echo(line)
    rows = [
        {
            "source": r.source,
            "status": r.status,
            "new": r.new_items,
            "hits": len(r.hit_ids),
            "note": r.error
            or ("being polled by another daemon" if r.skipped else "")
            or ("" if r.alerted or not r.hit_ids else "first poll: not alerted"),
        }
        for r in results
    ]
    click.echo(render(rows, "table"))
    errors = sum(1 for r in results if r.error)
    click.echo(
        f"{len(results)} sources polled, {errors} failed, "
        f"{sum(r.new_items for r in results)} new items, "
        f"{sum(len(r.hit_ids) for r in results)} hits; "
        f"alerts: {cycle.sent} sent, {cycle.failed} failed"
    )
    deferred = sum(1 for r in results if r.status == "deferred")
    if deferred:
        click.echo(
            f"{deferred} sources deferred (backing off after errors); without --due they are polled"
        )
