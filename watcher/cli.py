"""The `regwatch` command line: thin wrappers that parse arguments, call, and print."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from watcher import __version__
from watcher.config import DEFAULT_CONFIG, Config, load_config, parse_duration
from watcher.errors import WatcherError
from watcher.logs import register_secrets
from watcher.output import FORMATS, render
from watcher.store import Store

F = TypeVar("F", bound=Callable[..., Any])
STARTER = Path(__file__).with_name("starter.toml")


class CLIError(click.ClickException):
    """A WatcherError shown the click way: message, hint, and the error's exit status."""

    def __init__(self, error: WatcherError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code  # type: ignore[misc]


def reports_errors(func: F) -> F:
    """Turn WatcherError into a clean message and exit status instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except WatcherError as exc:
            raise CLIError(exc) from None

    return wrapper  # type: ignore[return-value]


def setup_logging(level: str, fmt: str = "text") -> None:
    from watcher.logs import setup_logging as setup

    setup(level, fmt)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="regwatch")
@click.option(
    "--config",
    "-c",
    "config_path",
    envvar="REGWATCH_CONFIG",
    default=DEFAULT_CONFIG,
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Config file (TOML). Also read from $REGWATCH_CONFIG.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="How much to log to standard error.",
)
@click.option(
    "--log-format",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
    help="Log lines as text or as one JSON object each (for log shippers).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str, log_level: str, log_format: str) -> None:
    """regwatch watches regulators' and news feeds for the companies you follow.

    \b
    Quick start:
      regwatch init            write a starter config to ./regwatch.toml
      regwatch check           validate it
      regwatch poll            poll every source once, alert, exit
      regwatch run             run as a daemon
      regwatch hits --since 7d what was found
    """
    ctx.obj = {"config_path": config_path}
    setup_logging(log_level, log_format)


def get_config(ctx: click.Context) -> Config:
    config = load_config(ctx.obj["config_path"])
    register_secrets(c.url for c in config.channels)
    return config


# -- daemon and polling -------------------------------------------------------------------------


@cli.command()
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

    Example: regwatch --config /etc/regwatch/regwatch.toml run --stop-grace 20s
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
@click.option("--source", "-s", "names", multiple=True, help="Poll only this source (repeatable).")
@click.pass_context
@reports_errors
def poll(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Poll every source once, send alerts, print a summary and exit.

    Exits 0 even when some sources failed (they are listed); non-zero only for a
    config or storage error.

    Example: regwatch poll --source ec-presscorner
    """
    from watcher.alert import dispatch
    from watcher.daemon import print_hits
    from watcher.poll import poller_session

    config = get_config(ctx)
    sources = [config.source(n) for n in names] if names else None
    store = Store(config.storage_path)

    async def go() -> tuple[list[Any], tuple[int, int]]:
        async with poller_session(config, store) as poller:
            results = await poller.poll_all(sources)
        return results, await dispatch(store, config.channels)

    results, (sent, failed) = asyncio.run(go())
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


# -- queries ------------------------------------------------------------------------------------


def parse_since(text: str) -> str:
    """A cut-off timestamp from "7d"/"12h" (ago) or an ISO date like 2024-02-01."""
    try:
        return (datetime.now(UTC) - timedelta(seconds=parse_duration(text))).isoformat(
            timespec="seconds"
        )
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: give a duration like 7d or a date like 2024-02-01"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds")


def open_readonly(ctx: click.Context) -> Store:
    return Store(get_config(ctx).storage_path, readonly=True)


@cli.command()
@click.option("--entity", "-e", help="Only hits for this entity.")
@click.option("--source", "-s", help="Only hits from this source.")
@click.option("--since", help="Only hits published since: 7d, 12h, or a date (2024-02-01).")
@click.option("--search", help="Only hits whose item title or text contains TEXT.")
@click.option("--limit", "-n", default=50, show_default=True, help="At most N hits (0: all).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
@reports_errors
def hits(
    ctx: click.Context,
    entity: str | None,
    source: str | None,
    since: str | None,
    search: str | None,
    limit: int,
    fmt: str,
) -> None:
    """List hits, newest first. Works while the daemon runs.

    Example: regwatch hits --entity Microsoft --since 30d --format csv > microsoft.csv
    """
    store = open_readonly(ctx)
    rows = store.query_hits(
        entity=entity,
        source=source,
        since=parse_since(since) if since else None,
        search=search,
        limit=limit or None,
    )
    cols = ["id", "entity", "published", "source", "matched", "title", "link", "snippet"]
    click.echo(render(rows, fmt, cols if fmt == "table" else None))


@cli.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
@reports_errors
def sources(ctx: click.Context, fmt: str) -> None:
    """One row per source: last poll, status, error, items and hits.

    Sources in the config that were never polled are listed as "never polled".
    """
    config = get_config(ctx)
    stored: dict[str, dict[str, Any]] = {}
    if config.storage_path.exists():
        stored = {r["name"]: r for r in Store(config.storage_path, readonly=True).source_report()}
    rows = []
    for s in config.sources:
        r = stored.pop(s.name, None) or {"last_status": "never polled", "items": 0, "hits": 0}
        status = r.get("last_status") or ""
        if not s.enabled:
            status = "disabled"
        rows.append(
            {
                "name": s.name,
                "last_poll": r.get("last_poll_at"),
                "status": status,
                "http": r.get("http_status"),
                "error": r.get("last_error"),
                "failures": r.get("failures", 0),
                "items": r["items"],
                "hits": r["hits"],
                "url": s.url,
            }
        )
    for name, r in stored.items():  # removed from the config, still in the database
        rows.append(
            {
                "name": name,
                "last_poll": r["last_poll_at"],
                "status": "not in config",
                "http": r["http_status"],
                "error": r["last_error"],
                "failures": r["failures"],
                "items": r["items"],
                "hits": r["hits"],
                "url": r["url"],
            }
        )
    cols = ["name", "last_poll", "status", "http", "failures", "items", "hits", "error"]
    click.echo(render(rows, fmt, cols if fmt == "table" else None))


# -- configuration and channels --------------------------------------------------------------


@cli.command()
@click.pass_context
@reports_errors
def check(ctx: click.Context) -> None:
    """Validate the config file and print a summary (channel URLs masked).

    Exit status 3 when the config is invalid or credentials it names are missing
    (all of them are listed).

    Example: regwatch --config /etc/regwatch/regwatch.toml check
    """
    from watcher.config import missing_credentials
    from watcher.errors import ConfigError

    missing = missing_credentials(ctx.obj["config_path"])
    if missing:
        raise ConfigError(
            f"{len(missing)} credentials missing:\n  " + "\n  ".join(missing),
            hint="add LoadCredential=NAME:/path/to/file to the unit for each "
            "(systemctl edit regwatch), or create them in $CREDENTIALS_DIRECTORY",
        )
    config = get_config(ctx)
    click.echo(f"config {config.path}: ok")
    click.echo(f"database: {config.storage_path}")
    if config.retention is not None or config.retention_hits is not None:
        keep = _human(config.retention) if config.retention else "forever"
        hits_kept = _human(config.retention_hits) if config.retention_hits else "forever"
        click.echo(f"retention: items without hits {keep}, hits {hits_kept}")
    if config.http_listen:
        click.echo("http: /healthz and /metrics on {}:{}".format(*config.http_listen))
    click.echo(f"{len(config.sources)} sources:")
    for s in config.sources:
        state = "" if s.enabled else " (disabled)"
        click.echo(f"  {s.name:<24} every {_human(s.interval):<6} {s.url}{state}")
    click.echo(f"{len(config.entities)} entities:")
    for e in config.entities:
        click.echo(f"  {e.name:<24} {', '.join(e.aliases)}")
    click.echo(f"{len(config.channels)} channels:")
    for c in config.channels:
        scope = ", ".join(c.entities) if c.entities is not None else "all entities"
        click.echo(f"  {c.name:<24} {c.masked_url} ({c.format}; {scope})")
    if not config.channels:
        click.echo("  (none: hits are printed to standard output)")


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


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@cli.command("test-alert")
@click.option("--channel", "names", multiple=True, help="Only this channel (repeatable).")
@click.pass_context
@reports_errors
def test_alert(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Send a test message to every channel (or the named ones) and report each result.

    Exit status 1 when any channel failed.
    """
    from watcher.alert import Message, send

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
        click.echo(f"{channel.name} ({channel.masked_url}): {'ok' if error is None else error}")
    if failures:
        sys.exit(1)


@cli.command()
@click.argument("path", default=DEFAULT_CONFIG, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str, force: bool) -> None:
    """Write a starter config (EU regulators, tech news, Microsoft, Mistral AI, OpenAI).

    Example: regwatch init /etc/regwatch/regwatch.toml
    """
    target = Path(path)
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(STARTER.read_text(encoding="utf-8"), encoding="utf-8")
    click.echo(f"wrote {target}; next: regwatch --config {target} check")


@cli.command()
@click.option("--keep", type=click.Path(file_okay=False), help="Keep the demo's files in DIR.")
def demo(keep: str | None) -> None:
    """See regwatch work with no network: local sample feeds, a poll, hits and an alert."""
    from watcher.demo import run_demo

    run_demo(Path(keep) if keep else None, click.echo)
