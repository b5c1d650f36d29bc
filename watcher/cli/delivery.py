"""Commands about alerts: the outbox (deliveries, retry) and test messages."""

from __future__ import annotations

import sys

import click

from watcher.alert.send import send
from watcher.cli.base import (
    cli,
    config_option,
    format_option,
    get_config,
    open_readonly,
    open_store,
    reports_errors,
)
from watcher.logs import mask_secrets
from watcher.model import Message
from watcher.output import FORMATS, render
from watcher.store import STATUSES


@cli.group(invoke_without_command=True)
@config_option
@click.option(
    "--status",
    type=click.Choice(STATUSES),
    help="Only deliveries with this status.",
)
@click.option("--channel", help="Only deliveries to this channel.")
@click.option("--limit", "-n", default=100, show_default=True, help="At most N rows (0: all).")
@format_option(FORMATS)
@click.pass_context
@reports_errors
def deliveries(
    ctx: click.Context, status: str | None, channel: str | None, limit: int, fmt: str
) -> None:
    """List alert deliveries (the outbox), newest first; `deliveries retry` re-queues.

    kind is "hit" (one hit to one channel), "digest" or "health". Statuses: pending,
    failed (retried with backoff), dead (gave up after [delivery] max_attempts), sent,
    merged (a later copy of a story already alerted), digested (waiting in a digest).

    Example: regwatch deliveries --status dead --channel slack
    """
    if ctx.invoked_subcommand:
        return
    rows = open_readonly(ctx).list_deliveries(status=status, channel=channel, limit=limit or None)
    cols = [
        "kind",
        "id",
        "channel",
        "status",
        "attempts",
        "next_attempt",
        "hit_id",
        "title",
        "error",
    ]
    click.echo(render(rows, fmt, cols if fmt == "table" else None))


@deliveries.command("retry")
@config_option
@click.option("--dead", is_flag=True, help="Also re-queue dead deliveries (attempts start again).")
@click.option("--channel", help="Only deliveries to this channel.")
@click.pass_context
@reports_errors
def deliveries_retry(ctx: click.Context, dead: bool, channel: str | None) -> None:
    """Make failed deliveries due now (with --dead, dead ones too); the daemon sends them.

    Example: regwatch deliveries retry --dead --channel slack
    """
    count = open_store(ctx).retry_deliveries(dead=dead, channel=channel)
    click.echo(
        f"{count} deliveries re-queued; they are sent at the next dispatch (or `regwatch poll`)"
    )


@cli.command("test-alert")
@config_option
@click.option("--channel", "names", multiple=True, help="Only this channel (repeatable).")
@click.pass_context
@reports_errors
def test_alert(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Send a test message to every channel (or the named ones) and report each result.

    Exit status 1 when any channel failed.

    Example: regwatch test-alert --channel legal
    """
    config = get_config(ctx)
    known = {c.name: c for c in config.channels}
    for name in names:
        if name not in known:
            raise click.BadParameter(
                f"no channel named {name!r}; known: {', '.join(known)}", param_hint="--channel"
            )
    chosen = [known[n] for n in names] if names else list(known.values())
    if not chosen:
        raise click.ClickException("no channels configured; add a [[channels]] table")
    message = Message(
        "[regwatch] test alert",
        "This is a test alert from regwatch. If you can read it, the channel works.",
        "text",
    )
    failures = 0
    for channel in chosen:
        error = send(channel, message)
        failures += error is not None
        result = "ok" if error is None else error
        # The error may quote apprise's log lines: masked like every log line.
        click.echo(mask_secrets(f"{channel.name} ({channel.masked_url}): {result}"))
    if failures:
        sys.exit(1)
