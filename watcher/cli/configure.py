"""Commands that set regwatch up: check a config, write a starter one, the demo."""

from __future__ import annotations

from pathlib import Path

import click

from watcher.cli.base import cli, config_option, get_config, reports_errors
from watcher.config.secrets import missing_credentials
from watcher.errors import ConfigError

STARTER = Path(__file__).parent.parent / "starter.toml"

# -- configuration and channels --------------------------------------------------------------


@cli.command()
@config_option
@click.pass_context
@reports_errors
def check(ctx: click.Context) -> None:
    """Validate the config file and print a summary (channel URLs masked).

    Exit status 3 when the config is invalid or credentials it names are missing
    (all of them are listed).

    Example: regwatch --config /etc/regwatch/regwatch.toml check
    """
    missing = missing_credentials(ctx.obj["config_path"])
    if missing:
        raise ConfigError(
            f"{len(missing)} credentials missing:\n  " + "\n  ".join(missing),
            hint="add LoadCredential=NAME:/path/to/file to the unit for each "
            "(systemctl edit regwatch), or create them in $CREDENTIALS_DIRECTORY",
        )
    config = get_config(ctx)
    click.echo(f"config {config.path}: ok")
    for note in config.notes:
        click.echo(f"note: {note}")
    click.echo(f"database: {config.database_label}")
    if any(
        x is not None for x in (config.retention, config.retention_hits, config.retention_evidence)
    ):
        keep = _human(config.retention) if config.retention else "forever"
        hits_kept = _human(config.retention_hits) if config.retention_hits else "forever"
        evidence = _human(config.retention_evidence) if config.retention_evidence else "forever"
        click.echo(
            f"retention: items without hits {keep}, new hits {hits_kept}, "
            f"evidence of new hits {evidence}"
        )
    if config.http_listen:
        click.echo("http: /healthz and /metrics on {}:{}".format(*config.http_listen))
    web = config.web
    if web.accounts or web.base_url or web.anonymous != "read":
        who = ", ".join(a.name for a in web.accounts) or "no accounts (read-only)"
        click.echo(
            f"web: {who}; anonymous visitors: {web.anonymous}"
            + (f"; alerts link to {web.base_url}" if web.base_url else "")
        )
    click.echo(f"{len(config.sources)} sources:")
    for s in config.sources:
        state = "" if s.enabled else " (disabled)"
        labels = [s.kind] if s.kind != "feed" else []
        labels += ["full text"] if s.full_text else []
        labels += ["archive links"] if s.archive_links else []
        kind = f" [{', '.join(labels)}]" if labels else ""
        click.echo(f"  {s.name:<24} every {_human(s.interval):<6} {s.url}{kind}{state}")
    click.echo(f"{len(config.entities)} entities:")
    for e in config.entities:
        click.echo(f"  {e.name:<24} {', '.join(e.aliases)}")
        if e.exact_aliases:
            click.echo(f"  {'':<24} exact: {', '.join(e.exact_aliases)}")
        if e.weak_aliases:
            click.echo(f"  {'':<24} weak: {', '.join(e.weak_aliases)} (with context)")
        if e.exact_weak_aliases:
            click.echo(
                f"  {'':<24} exact weak: {', '.join(e.exact_weak_aliases)} (as written, with context)"
            )
    if config.topics:
        click.echo(f"{len(config.topics)} topics: " + ", ".join(t.name for t in config.topics))
    click.echo(f"{len(config.channels)} channels:")
    for c in config.channels:
        scope = ", ".join(c.entities) if c.entities is not None else "all entities"
        if c.topics is not None:
            scope += "; topics " + ", ".join(c.topics)
        extra = "".join(
            f"; {label} {', '.join(values)}"
            for label, values in (("sources", c.sources), ("tags", c.tags))
            if values is not None
        )
        extra += f"; digest {c.schedule}" if not c.schedule.immediate else ""
        extra += "; health alerts" if c.health else ""
        click.echo(f"  {c.name:<24} {c.masked_url} ({c.format}; {scope}{extra})")
    if not config.channels:
        click.echo("  (none: hits are printed to standard output)")


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@cli.command()
@config_option
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_context
def init(ctx: click.Context, path: str | None, force: bool) -> None:
    """Write a starter config (EU regulators, tech news, Microsoft, Mistral AI, OpenAI).

    PATH defaults to the --config path (./regwatch.toml).

    Example: regwatch init /etc/regwatch/regwatch.toml
    """
    target = Path(path or ctx.obj["config_path"])
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(STARTER.read_text(encoding="utf-8"), encoding="utf-8")
    click.echo(f"wrote {target}; next: regwatch --config {target} check")


@cli.command()
@click.option("--keep", type=click.Path(file_okay=False), help="Keep the demo's files in DIR.")
def demo(keep: str | None) -> None:
    """See regwatch work with no network: local sample feeds, a poll, hits and an alert.

    Example: regwatch demo --keep /tmp/regwatch-demo
    """
    from watcher.demo import run_demo

    run_demo(Path(keep) if keep else None, click.echo)
