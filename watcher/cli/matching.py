"""Commands for config authors: why a hit matched, what a text matches, re-matching."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from watcher.cli.base import (
    cli,
    config_option,
    format_option,
    get_config,
    open_readonly,
    open_store,
    reports_errors,
    since,
)
from watcher.cli.progress import progress
from watcher.config import Config
from watcher.output import FORMATS, render

if TYPE_CHECKING:
    from watcher.pipeline.match import Matcher
    from watcher.pipeline.rematch import RematchReport

WORKERS_FROM = 2000  # items from which rematch uses worker processes (and shows a bar)

# -- matching: explain, try, rematch -----------------------------------------------------------


def make_matcher(config: Config) -> Matcher:
    """The config's matcher (built once per command; imported here, as it is heavy)."""
    from watcher.pipeline.match import Matcher

    return Matcher(config.entities, config.topics)


@cli.command()
@config_option
@click.argument("hit_id", type=int)
@click.pass_context
@reports_errors
def explain(ctx: click.Context, hit_id: int) -> None:
    """Print why hit HIT_ID matched: alias, field, offsets, context term, topics.

    It also says whether the current config still matches the item.

    Example: regwatch explain 42
    """
    from watcher.pipeline.explain import HitNotFoundError, explain_hit

    config = get_config(ctx)
    store = open_readonly(ctx)
    hit = store.get_hit(hit_id)
    if hit is None:
        raise HitNotFoundError(
            f"no hit with id {hit_id} in {store.label}",
            hint="`regwatch hits` lists hit ids in its first column",
        )
    for line in explain_hit(hit, store.item_text(hit.item_id), make_matcher(config)):
        click.echo(line)


@cli.command("match")
@config_option
@click.argument("text", required=False)
@click.option("--title", "-t", default="", help="The item's title (matched before the text).")
@click.pass_context
@reports_errors
def match_text(ctx: click.Context, text: str | None, title: str) -> None:
    """Print what the current config matches in TEXT (or standard input), and why.

    The text may be HTML, as in a feed; it is cleaned the same way. Uses no database and
    no network: a safe way to try aliases, context terms, exclusions and topics.
    Exit status 1 when no entity matched.

    \b
    Examples:
      regwatch match "Le mistral souffle sur Marseille"
      regwatch match --title "Commission fines Microsoft" < article.html
    """
    from watcher.pipeline.explain import describe_analysis
    from watcher.pipeline.work import clean_item

    config = get_config(ctx)
    if text is None:
        text = sys.stdin.read()
    analysis = make_matcher(config).analyse(*clean_item(title, text))
    for line in describe_analysis(analysis):
        click.echo(line)
    if not analysis.mentions:
        sys.exit(1)


@cli.command()
@config_option
@click.option(
    "--since", "since_", help="Only items published since: 30d, 12h, or a date (2024-02-01)."
)
@click.option(
    "--alert",
    is_flag=True,
    help="Queue alerts for the new hits (sent by the next poll, or the daemon).",
)
@format_option(FORMATS)
@click.pass_context
@reports_errors
def rematch(ctx: click.Context, since_: str | None, alert: bool, fmt: str) -> None:
    """Match stored items again after the watchlist changed.

    New hits are marked retroactive and are not alerted unless --alert. Hits that no
    longer match are listed and marked, never deleted.

    A large database is matched by one worker process per core (defaults.workers), with a
    progress bar on a terminal.

    Example: regwatch rematch --since 30d
    """
    import asyncio

    from watcher.pipeline.rematch import rematch_items
    from watcher.pipeline.workers import Workers, worker_count

    config = get_config(ctx)
    store = open_store(ctx)
    cutoff = since(since_)
    total = store.count_items_since(cutoff)
    # Starting workers costs more than a few batches of items take to match in-process.
    count = worker_count(config) if total >= WORKERS_FROM else 0

    async def go(advance: Callable[[int], None]) -> RematchReport:
        workers = Workers(count, config.entities, config.topics)
        try:
            return await rematch_items(
                store, config, workers, since=cutoff, alert=alert, on_batch=advance
            )
        finally:
            await workers.aclose()

    with progress(total if total >= WORKERS_FROM else 0, "Matching") as advance:
        report = asyncio.run(go(advance))
    rows = [{"change": "new", **r} for r in report.new]
    rows += [{"change": "no longer matches", **r} for r in report.unmatched]
    if rows or fmt != "table":
        click.echo(render(rows, fmt, ["change", "id", "entity", "source", "matched", "title"]))
    if fmt == "table":
        click.echo(
            f"{report.items} items matched again: {len(report.new)} new hits"
            + (f" ({report.deliveries} alerts queued)" if alert else " (not alerted)")
            + f", {len(report.unmatched)} hits no longer match"
            + (f", {report.rematched} match again" if report.rematched else "")
        )
