"""What every command shares: the `regwatch` group, the config, output options, the error path.

Commands are thin: parse arguments, call a function, print. A WatcherError becomes a
message with its hint and the error's exit status (3 config, 4 storage, 1 otherwise);
click's usage errors exit 2.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from watcher import __version__
from watcher.config import DEFAULT_CONFIG, Config, load_config
from watcher.errors import WatcherError
from watcher.logs import register_masked, register_secrets, setup_logging
from watcher.store import Store
from watcher.timeparse import parse_duration, parse_since

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


def format_option(choices: Sequence[str], help: str | None = None) -> Callable[[F], F]:
    """The --format option of a command that prints rows (default: table)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default="table",
        show_default=True,
        help=help,
    )


def get_config(ctx: click.Context) -> Config:
    config = load_config(ctx.obj["config_path"])
    register_secrets(c.url for c in config.channels)
    if config.storage_url:
        register_masked(config.storage_url, config.database_label)
    return config


def open_store(ctx: click.Context) -> Store:
    """The config's database, opened for writing (and migrated)."""
    config = get_config(ctx)
    return Store(config.database, busy_timeout=config.busy_timeout)


def open_readonly(ctx: click.Context) -> Store:
    """The config's database, read-only: works while the daemon writes."""
    return Store(get_config(ctx).database, readonly=True)


def stored_database(config: Config) -> Store | None:
    """The config's database read-only, or None when it is a SQLite file not made yet."""
    if config.storage_path is not None and not config.storage_path.exists():
        return None
    return Store(config.database, readonly=True)


def since(text: str | None, param: str = "--since") -> str | None:
    """A --since/--until value as a stored timestamp; a usage error when malformed."""
    if text is None:
        return None
    try:
        return parse_since(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=param) from None


def duration(text: str, param: str) -> float:
    """A duration option in seconds; a usage error when malformed."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=param) from None
