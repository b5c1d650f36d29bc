"""Commands that look after a running installation: status, vacuum, reindex."""

from __future__ import annotations

import json
import sys

import click

from watcher.cli.base import cli, config_option, get_config, open_store, reports_errors
from watcher.cli.progress import progress


@cli.command()
@config_option
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
    from watcher.daemon.status import collect_status, format_status

    report = collect_status(get_config(ctx))
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo("\n".join(format_status(report)))
    if not report["daemon"]["running"]:
        sys.exit(1)


@cli.command()
@config_option
@click.option(
    "--evidence",
    "all_evidence",
    is_flag=True,
    help="Also prune the evidence of reviewed hits older than [storage] retention_evidence.",
)
@click.pass_context
@reports_errors
def vacuum(ctx: click.Context, all_evidence: bool) -> None:
    """Prune by [storage] retention, checkpoint the WAL and VACUUM the database.

    Evidence is pruned after retention_evidence only for hits still new; --evidence
    prunes it for reviewed hits too. Safe while the daemon runs (it waits meanwhile).

    \b
    Examples:
      regwatch vacuum
      regwatch vacuum --evidence
    """
    config = get_config(ctx)
    if all_evidence and config.retention_evidence is None:
        raise click.UsageError(
            "--evidence prunes evidence older than [storage] retention_evidence, "
            f'which {config.path} does not set (e.g. retention_evidence = "365d")'
        )
    store = open_store(ctx)
    pruned = store.prune(
        config.retention,
        config.retention_hits,
        retention_evidence=config.retention_evidence,
        all_evidence=all_evidence,
    )
    click.echo(
        f"pruned {pruned.items} items without hits, {pruned.hits} hits, "
        f"{pruned.deliveries} deliveries; evidence of {pruned.evidence} hits"
    )
    before, after = store.vacuum()
    store.close()
    click.echo(f"database {config.database_label}: {before / 1e6:.2f} MB -> {after / 1e6:.2f} MB")


@cli.command()
@config_option
@click.pass_context
@reports_errors
def reindex(ctx: click.Context) -> None:
    """Rebuild the full-text search index from the stored items.

    Needed only if the index was damaged or an old copy of the database is restored;
    the index otherwise follows every write. Shows a progress bar in a terminal.

    Example: regwatch reindex
    """
    store = open_store(ctx)
    with progress(store.item_count(), "Indexing items") as advance:
        done = store.rebuild_index(advance)
    click.echo(f"indexed {done} items")
