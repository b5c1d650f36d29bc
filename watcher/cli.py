"""The `regwatch` command line: thin wrappers that parse arguments, call, and print."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from watcher import __version__
from watcher.config import DEFAULT_CONFIG, Config, load_config, parse_duration
from watcher.errors import WatcherError
from watcher.logs import register_secrets
from watcher.output import FORMATS, HIT_FORMATS, render
from watcher.store import Store

if TYPE_CHECKING:
    from watcher.match import Matcher

F = TypeVar("F", bound=Callable[..., Any])
STARTER = Path(__file__).with_name("starter.toml")
PROGRESS_MIN = 5  # sources from which `poll` shows a progress bar (on a terminal)


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

    config = get_config(ctx)
    sources = [config.source(n) for n in names] if names else None
    store = Store(config.storage_path)

    from watcher.progress import progress

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
@config_option
@click.option("--entity", "-e", help="Only hits for this entity.")
@click.option("--source", "-s", help="Only hits from this source.")
@click.option("--since", help="Only hits published since: 7d, 12h, or a date (2024-02-01).")
@click.option(
    "--search",
    metavar="QUERY",
    help='Full-text search of the item: words, "a phrase", OR, NOT, prefix*. '
    "Ranks by relevance, then date.",
)
@click.option("--topic", "-t", help="Only hits whose item has this topic.")
@click.option("--limit", "-n", default=50, show_default=True, help="At most N hits (0: all).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(HIT_FORMATS),
    default="table",
    show_default=True,
    help="ndjson: one JSON object per line; atom: an Atom feed for a feed reader.",
)
@click.option("--stories", is_flag=True, help="One row per story (same news from several sources).")
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
    topic: str | None = None,
    stories: bool = False,
) -> None:
    """List hits, newest first. Works while the daemon runs.

    Each hit has a `story` id: copies of the same news from several sources share it.

    \b
    Examples:
      regwatch hits --entity Microsoft --since 30d --format csv > microsoft.csv
      regwatch hits --search '"merger control" OR enquête*' --since 2024-02-01
      regwatch hits --entity "Mistral AI" --format atom > mistral.atom
      regwatch hits --stories
    """
    store = open_readonly(ctx)
    rows = store.query_hits(
        entity=entity,
        source=source,
        since=parse_since(since) if since else None,
        search=search,
        limit=None if stories else limit or None,
        topic=topic,
    )
    if stories:
        from watcher.story import group_stories

        rows = group_stories(rows, limit or None)
        if fmt != "json":
            rows = [
                {**r, "entities": ", ".join(r["entities"]), "sources": ", ".join(r["sources"])}
                for r in rows
            ]
        cols = ["story", "published", "entities", "items", "sources", "title"]
        click.echo(render(rows, fmt, cols if fmt == "table" else None))
        return
    cols = ["id", "story", "entity", "published", "source", "matched", "title", "link", "snippet"]
    if search:  # show where the query matched rather than where the entity did
        cols = ["id", "entity", "published", "source", "title", "match"]
    title = "regwatch hits" + "".join(
        f" — {label} {value}"
        for label, value in (("entity", entity), ("topic", topic), ("search", search))
        if value
    )
    click.echo(render(rows, fmt, cols if fmt == "table" else None, title=title))


@cli.command()
@config_option
@click.argument("query")
@click.option("--source", "-s", help="Only items from this source.")
@click.option("--since", help="Only items published since: 7d, 12h, or a date (2024-02-01).")
@click.option("--limit", "-n", default=20, show_default=True, help="At most N items (0: all).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice((*FORMATS, "ndjson")),
    default="table",
    show_default=True,
)
@click.pass_context
@reports_errors
def search(
    ctx: click.Context, query: str, source: str | None, since: str | None, limit: int, fmt: str
) -> None:
    """Search every stored item, hit or not: was this story seen at all?

    QUERY: words (all must match), "a phrase", OR, NOT, prefix* and (groups); case and
    accents are ignored ("societe" finds "Société"). Matching words are marked **so**.

    \b
    Examples:
      regwatch search '"merger control" Microsoft'
      regwatch search 'enquête* NOT agriculture' --since 90d
    """
    from watcher.search import search_items

    rows = search_items(
        open_readonly(ctx),
        query,
        source=source,
        since=parse_since(since) if since else None,
        limit=limit or None,
    )
    cols = ["published", "source", "entities", "title", "match"]
    click.echo(render(rows, fmt, cols if fmt == "table" else None))


@cli.group(invoke_without_command=True)
@click.option(
    "--status",
    type=click.Choice(["pending", "failed", "dead", "sent", "merged", "digested"]),
    help="Only deliveries with this status.",
)
@click.option("--channel", help="Only deliveries to this channel.")
@click.option("--limit", "-n", default=100, show_default=True, help="At most N rows (0: all).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
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
    from watcher.outbox import list_deliveries, schema_errors

    with schema_errors():
        rows = list_deliveries(
            open_readonly(ctx), status=status, channel=channel, limit=limit or None
        )
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
@click.option("--dead", is_flag=True, help="Also re-queue dead deliveries (attempts start again).")
@click.option("--channel", help="Only deliveries to this channel.")
@click.pass_context
@reports_errors
def deliveries_retry(ctx: click.Context, dead: bool, channel: str | None) -> None:
    """Make failed deliveries due now (with --dead, dead ones too); the daemon sends them.

    Example: regwatch deliveries retry --dead --channel slack
    """
    from watcher.outbox import retry_deliveries

    store = Store(get_config(ctx).storage_path)
    count = retry_deliveries(store, dead=dead, channel=channel)
    click.echo(
        f"{count} deliveries re-queued; they are sent at the next dispatch (or `regwatch poll`)"
    )


@cli.command()
@config_option
@click.option("--since", default="90d", show_default=True, help="From: 90d, or a date.")
@click.option("--until", help="Up to this date (2024-03-31); default: today.")
@click.option(
    "--by",
    type=click.Choice(["entity", "source", "topic"]),
    default="entity",
    show_default=True,
    help="One series per entity, source or topic.",
)
@click.option(
    "--every",
    type=click.Choice(["day", "week", "month"]),
    default="week",
    show_default=True,
    help="Count per day, per week (labelled by its Monday) or per month.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
@reports_errors
def stats(
    ctx: click.Context, since: str, by: str, every: str, fmt: str, until: str | None = None
) -> None:
    """Hit counts over time: a table and one sparkline row per entity (or source, topic).

    JSON and CSV give the same counts as rows {period, entity, hits}.

    \b
    Examples:
      regwatch stats --since 180d --by source --every month
      regwatch stats --since 2024-01-01 --until 2024-03-31 --every week --format csv
    """
    from watcher.stats import chart, hit_counts, period_table

    rows = hit_counts(
        open_readonly(ctx).db,
        since=parse_since(since),
        by=by,
        every=every,
        until=parse_since(until) if until else None,
    )
    if fmt != "table":
        click.echo(render(rows, fmt))
        return
    if not rows:
        click.echo(f"no hits since {since}" + (" with topics" if by == "topic" else ""))
        return
    click.echo(render(period_table(rows, by), "table"))
    click.echo("")
    click.echo(chart(rows, by))


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
    from watcher.progress import progress
    from watcher.search import rebuild_index

    store = Store(get_config(ctx).storage_path)
    total = store.db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    with progress(total, "Indexing items") as advance:
        done = rebuild_index(store, advance)
    click.echo(f"indexed {done} items")


@cli.command()
@config_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
@reports_errors
def sources(ctx: click.Context, fmt: str) -> None:
    """One row per source: last poll, status, error, health, items and hits.

    Sources in the config that were never polled are listed as "never polled". The url
    column is the URL polled now (after permanent redirects); JSON and CSV add the
    config_url and, for a source backing off, next_poll.

    Example: regwatch sources --format json
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
        elif r.get("gone_at"):
            status = "gone (disabled by HTTP 410)"
        moved = r.get("moved_to")
        rows.append(
            {
                "name": s.name,
                "last_poll": r.get("last_poll_at"),
                "status": status,
                "http": r.get("http_status"),
                "error": r.get("last_error"),
                "failures": r.get("failures", 0),
                "health": r.get("health"),
                "items": r["items"],
                "hits": r["hits"],
                # A permanent redirect moved it: that is the URL polled now.
                "url": moved or s.url,
                "config_url": s.url,
                "next_poll": r.get("next_poll_at"),
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
                "health": r.get("health"),
                "items": r["items"],
                "hits": r["hits"],
                "url": r["url"],
            }
        )
    cols = [
        "name",
        "last_poll",
        "status",
        "http",
        "failures",
        "health",
        "items",
        "hits",
        "url",
        "error",
    ]
    click.echo(render(rows, fmt, cols if fmt == "table" else None))


@cli.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", "-p", default=8001, show_default=True, help="Port to listen on.")
@click.pass_context
@reports_errors
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Explore the hits in a browser (Datasette), read-only.

    Latest hits with facets and full-text search, canned queries, CSV/JSON export, an
    Atom feed and trend charts. Listens on this machine only unless --host says otherwise:
    to share it with a team, put it behind a reverse proxy with authentication.
    Needs the web extra: pip install 'regwatch[web]'.

    Example: regwatch serve --port 8001   (then open http://127.0.0.1:8001/)
    """
    from watcher.web import is_loopback, make_datasette

    path = get_config(ctx).storage_path
    make_datasette(path)  # fails early, with a hint, without the extra or the database
    if not is_loopback(host):
        click.echo(
            f"warning: listening on {host}: anyone who reaches it can read every hit; "
            "put it behind a reverse proxy with authentication",
            err=True,
        )
    click.echo(f"regwatch web view of {path} (read-only): http://{host}:{port}/", err=True)
    from watcher.web import serve as run_server

    run_server(path, host, port)


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
        labels = [s.kind] if s.kind != "feed" else []
        labels += ["full text"] if s.full_text else []
        kind = f" [{', '.join(labels)}]" if labels else ""
        click.echo(f"  {s.name:<24} every {_human(s.interval):<6} {s.url}{kind}{state}")
    click.echo(f"{len(config.entities)} entities:")
    for e in config.entities:
        click.echo(f"  {e.name:<24} {', '.join(e.aliases)}")
        if e.exact_aliases:
            click.echo(f"  {'':<24} exact: {', '.join(e.exact_aliases)}")
        if e.weak_aliases:
            click.echo(f"  {'':<24} weak: {', '.join(e.weak_aliases)} (with context)")
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
        extra += f"; digest {c.digest}" if c.digest != "immediate" else ""
        extra += "; health alerts" if c.health else ""
        click.echo(f"  {c.name:<24} {c.masked_url} ({c.format}; {scope}{extra})")
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
@config_option
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
    """See regwatch work with no network: local sample feeds, a poll, hits and an alert."""
    from watcher.demo import run_demo

    run_demo(Path(keep) if keep else None, click.echo)


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
