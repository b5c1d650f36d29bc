"""The `regwatch` command line: thin wrappers that parse arguments, call, and print.

The group and what every command shares live here; the commands, one module per concern:
service (run, poll, status, vacuum), query (hits, search, stats, reindex, sources, serve),
delivery (deliveries, test-alert), configure (check, init, demo), matching (explain, match,
rematch).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

from watcher import __version__
from watcher.config import DEFAULT_CONFIG, Config, load_config, parse_duration
from watcher.errors import WatcherError
from watcher.logs import register_secrets
from watcher.store import Store

F = TypeVar("F", bound=Callable[..., Any])


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


def config_option(func: F) -> F:
    """Accept --config after the command name too: `regwatch run --config FILE`."""

    def remember(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        if value is not None:
            ctx.ensure_object(dict)["config_path"] = value

    return click.option(
        "--config",
        "-c",
        expose_value=False,
        callback=remember,
        type=click.Path(dir_okay=False),
        help="Config file (same as the global --config).",
    )(func)


def get_config(ctx: click.Context) -> Config:
    config = load_config(ctx.obj["config_path"])
    register_secrets(c.url for c in config.channels)
    return config


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


# Registers the commands on `cli` (they import it from here, so this comes last).
from watcher.cli import configure, delivery, matching, query, service  # noqa: E402, F401
