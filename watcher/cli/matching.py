"""Commands for config authors: why a hit matched, what a text matches, re-matching."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from watcher.config import Config
from watcher.output import FORMATS, render
from watcher.store import Store

if TYPE_CHECKING:
    from watcher.match import Matcher

from watcher.cli import cli, config_option, get_config, parse_since, reports_errors

# -- matching: explain, try, rematch -----------------------------------------------------------


def make_matcher(config: Config) -> Matcher:
    """The config's matcher (built once per command)."""
    from watcher.match import Matcher

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
    from watcher.explain import explain_hit

    config = get_config(ctx)
    store = Store(config.storage_path, readonly=True)
    for line in explain_hit(store, make_matcher(config), hit_id):
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
    from watcher.explain import describe_analysis
    from watcher.text import html_to_text

    config = get_config(ctx)
    if text is None:
        text = sys.stdin.read()
    analysis = make_matcher(config).analyse(title, html_to_text(text))
    for line in describe_analysis(analysis):
        click.echo(line)
    if not analysis.mentions:
        sys.exit(1)


@cli.command()
@config_option
@click.option("--since", help="Only items published since: 30d, 12h, or a date (2024-02-01).")
@click.option(
    "--alert",
    is_flag=True,
    help="Queue alerts for the new hits (sent by the next poll, or the daemon).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
@reports_errors
def rematch(ctx: click.Context, since: str | None, alert: bool, fmt: str) -> None:
    """Match stored items again after the watchlist changed.

    New hits are marked retroactive and are not alerted unless --alert. Hits that no
    longer match are listed and marked, never deleted.

    Example: regwatch rematch --since 30d
    """
    from watcher.rematch import rematch_items

    config = get_config(ctx)
    store = Store(config.storage_path)
    report = rematch_items(store, config, since=parse_since(since) if since else None, alert=alert)
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
