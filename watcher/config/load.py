"""Read the TOML file into a Config: one function per table, each error naming its key path.

Every mistake is reported as one ConfigError naming the file, the key path
(`sources[2].interval`) and, for a typo, the key that was probably meant.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from watcher.config.model import (
    BUSY_TIMEOUT,
    FORMATS,
    KINDS,
    MAX_INTERVAL,
    Channel,
    Config,
    Defaults,
    Delivery,
    Entity,
    Selectors,
    Source,
    Topic,
)
from watcher.config.schema import (
    CHANNEL,
    DEFAULTS,
    DELIVERY,
    ENTITY,
    HTTP,
    SELECTORS,
    SOURCE,
    STORAGE,
    TOP,
    TOPIC,
    Checker,
    did_you_mean,
)
from watcher.config.secrets import WEBHOOK_SCHEMES, check_permissions, expand_env, is_apprise_url
from watcher.config.template import check_template
from watcher.config.terms import check_alias_overlap, check_prefixes
from watcher.config.web import parse_web
from watcher.errors import ConfigError
from watcher.timeparse import parse_schedule, zone

DEFAULT_CONFIG = "regwatch.toml"


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Read and validate the config file; a missing or unreadable file is a ConfigError."""
    p = Path(path or os.environ.get("REGWATCH_CONFIG") or DEFAULT_CONFIG).expanduser().absolute()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {p} does not exist",
            hint="pass --config PATH, set REGWATCH_CONFIG, or write one with `regwatch init`",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from None
    config = parse_config(text, p, env)
    check_permissions(p, text, [(c.name, c.url) for c in config.channels], config.storage_url)
    return config


def parse_config(
    text: str, path: Path, env: dict[str, str] | None = None, expand: bool = True
) -> Config:
    """Validate TOML text as a regwatch config; relative paths resolve against `path`'s folder.

    With `expand` false, ${...} references in channel URLs are kept as written.
    """
    check = Checker(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid TOML: {exc}", hint="fix the syntax at that line"
        ) from None
    check.table(raw, TOP, "")
    storage = check.table(raw.get("storage", {}), STORAGE, "storage.")
    defaults = _defaults(raw.get("defaults", {}), check)
    notes: list[str] = []  # things worth telling the user that are not errors
    sources = _sources(raw.get("sources", []), defaults, check, notes)
    entities = _entities(raw.get("entities", []), check)
    topics = _topics(raw.get("topics", []), check)
    env = dict(os.environ) if env is None else env
    channels = _channels(
        raw.get("channels", []), check, sources, entities, topics, env if expand else None
    )
    retention = {
        key: check.duration(storage[key], f"storage.{key}", 0.0) if key in storage else None
        for key in ("retention", "retention_hits", "retention_evidence")
    }
    http = check.table(raw.get("http", {}), HTTP, "http.")
    storage_path, storage_url = _storage(storage, path, env if expand else None, check)
    lease = check.duration(storage.get("lease"), "storage.lease", 60.0)
    if not 1.0 <= lease <= 60.0:
        raise check.fail("storage.lease", "must be between 1s and 60s")
    busy_timeout = check.duration(storage.get("busy_timeout"), "storage.busy_timeout", BUSY_TIMEOUT)
    return Config(
        path=path,
        storage_path=storage_path,
        storage_url=storage_url,
        lease=lease,
        busy_timeout=busy_timeout,
        defaults=defaults,
        sources=sources,
        entities=entities,
        channels=channels,
        topics=topics,
        delivery=_delivery(raw.get("delivery", {}), check),
        retention=retention["retention"],
        retention_hits=retention["retention_hits"],
        retention_evidence=retention["retention_evidence"],
        http_listen=parse_listen(http["listen"], check) if "listen" in http else None,
        web=parse_web(raw.get("web", {}), check),
        notes=tuple(notes),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def _storage(
    storage: dict[str, Any], config_path: Path, env: dict[str, str] | None, check: Checker
) -> tuple[Path | None, str | None]:
    """(SQLite path, None) or (None, PostgreSQL URL), from [storage] path or url.

    No [storage] table at all keeps the default regwatch.db; a [storage] table must name
    one of the two, and not both.
    """
    if "path" in storage and "url" in storage:
        raise check.fail(
            "storage.url",
            "give either path (SQLite) or url (PostgreSQL), not both",
            hint="remove storage.path to use PostgreSQL, or storage.url to use the SQLite file",
        )
    if "url" in storage:
        url = storage["url"]
        if env is not None:
            url = expand_env(url, f"{check.path}: storage.url", env)
        if not re.match(r"^postgres(ql)?://", url):
            raise check.fail(
                "storage.url",
                "must be a PostgreSQL URL (postgresql://user@host:5432/database)",
                hint="for a SQLite file, write storage.path instead",
            )
        return None, url
    if storage and "path" not in storage:
        raise check.fail(
            "storage.path",
            "missing: [storage] needs path (a SQLite file) or url (a PostgreSQL database)",
            hint='e.g. path = "regwatch.db"',
        )
    db_path = Path(os.path.expanduser(storage.get("path", "regwatch.db")))
    return (db_path if db_path.is_absolute() else config_path.parent / db_path), None


def _defaults(d: dict[str, Any], check: Checker) -> Defaults:
    check.table(d, DEFAULTS, "defaults.")
    for key in ("max_bytes", "max_redirects", "concurrency", "per_host", "workers"):
        if key in d and d[key] < (0 if key in ("max_redirects", "workers") else 1):
            raise check.fail(f"defaults.{key}", "must be a positive number")
    durations = {
        key: check.duration(d.get(key), f"defaults.{key}", getattr(Defaults, key))
        for key in ("interval", "timeout", "min_interval")
    }
    return Defaults(**{**d, **durations})


def _sources(
    raw: list[dict[str, Any]], defaults: Defaults, check: Checker, notes: list[str]
) -> tuple[Source, ...]:
    sources = tuple(_source(s, f"sources[{i}].", defaults, check, notes) for i, s in enumerate(raw))
    check.unique([s.name for s in sources], "sources")
    return sources


def _source(
    s: dict[str, Any], at: str, defaults: Defaults, check: Checker, notes: list[str]
) -> Source:
    check.table(s, SOURCE, at)
    if not re.match(r"^https?://", s["url"], re.I):
        raise check.fail(at + "url", f"{s['url']!r} is not an http:// or https:// URL")
    kind = s.get("kind", "feed")
    if kind not in KINDS:
        hint = did_you_mean(kind, list(KINDS), "kinds")
        raise check.fail(at + "kind", f"unknown source kind {kind!r}", hint)
    if "selectors" in s and kind != "html":
        raise check.fail(at + "selectors", 'only sources of kind = "html" take selectors')
    for key in ("language", "document_types"):
        if key in s and kind != "presscorner":
            raise check.fail(at + key, 'only sources of kind = "presscorner" take ' + key)
    interval = check.duration(s.get("interval"), at + "interval", defaults.interval)
    # Politeness: never more often than the floor, never less than once a day.
    polled = min(max(interval, defaults.min_interval), MAX_INTERVAL)
    if polled != interval:
        notes.append(
            f"{at}interval: {s.get('interval') or 'the default'} is outside "
            f"{defaults.min_interval:g}s..{MAX_INTERVAL:g}s: polled every {polled:g}s"
        )
    return Source(
        name=s["name"],
        url=s["url"],
        interval=polled,
        alert_first_poll=s.get("alert_first_poll", defaults.alert_first_poll),
        enabled=s.get("enabled", True),
        tags=tuple(s.get("tags", ())),
        kind=kind,
        selectors=_selectors(s.get("selectors", {}), at + "selectors.", check),
        language=s.get("language", "en").lower(),
        document_types=tuple(t.upper() for t in s.get("document_types", ())),
        full_text=s.get("full_text", False),
        archive_links=s.get("archive_links", False),
        allow_private=s.get("allow_private", defaults.allow_private),
        stale_after=check.duration(s.get("stale_after"), at + "stale_after", 0) or None,
    )


def _selectors(raw: dict[str, Any], where: str, check: Checker) -> Selectors:
    """The html selectors, each compiled once here so a typo stops start-up, not a poll."""
    check.table(raw, SELECTORS, where)
    if not raw:
        return Selectors()  # the defaults: no need to load soupsieve (and BeautifulSoup)
    import soupsieve

    for key, value in raw.items():
        try:
            soupsieve.compile(value)
        except Exception as exc:  # noqa: BLE001 - soupsieve raises several kinds
            raise check.fail(where + key, f"{value!r} is not a CSS selector: {exc}") from None
    return Selectors(**raw)


def _entities(raw: list[dict[str, Any]], check: Checker) -> tuple[Entity, ...]:
    entities = [parse_entity(e, f"entities[{i}].", check) for i, e in enumerate(raw)]
    check.unique([e.name for e in entities], "entities")
    check_alias_overlap(entities, check)
    return tuple(entities)


def parse_entity(e: dict[str, Any], at: str, check: Checker) -> Entity:
    """One [[entities]] table as an Entity; blank terms are dropped."""
    check.table(e, ENTITY, at)
    lists = {
        key: tuple(x for x in e.get(key, []) if x.strip())
        for key, (kind, _) in ENTITY.items()
        if kind == [str]
    }
    if "aliases" not in e and "exact_aliases" not in e:
        raise check.fail(at + "aliases", "missing required key", hint="or give exact_aliases")
    if not lists["aliases"] and not lists["exact_aliases"]:
        raise check.fail(at + "aliases", "needs at least one non-empty alias")
    check_prefixes(lists, at, check)
    weak = next((k for k in ("weak_aliases", "exact_weak_aliases") if lists[k]), None)
    if weak and not (lists["context"] or lists["exact_context"]):
        raise check.fail(
            at + weak,
            "weak aliases count only with a context term, and there is none",
            hint="add context = [...] or exact_context = [...] to this entity",
        )
    return Entity(name=e["name"], variants=e.get("variants", True), **lists)


def _topics(raw: list[dict[str, Any]], check: Checker) -> tuple[Topic, ...]:
    topics = []
    for i, t in enumerate(raw):
        at = f"topics[{i}]."
        check.table(t, TOPIC, at)
        terms = tuple(x for x in t["terms"] if x.strip())
        if not terms:
            raise check.fail(at + "terms", "needs at least one non-empty term")
        check_prefixes({"terms": terms}, at, check)
        topics.append(Topic(name=t["name"], terms=terms))
    check.unique([t.name for t in topics], "topics")
    return tuple(topics)


def _channels(
    raw: list[dict[str, Any]],
    check: Checker,
    sources: tuple[Source, ...],
    entities: tuple[Entity, ...],
    topics: tuple[Topic, ...],
    env: dict[str, str] | None,
) -> tuple[Channel, ...]:
    """The [[channels]]; `env` expands ${...} in their URLs (None keeps them as written)."""
    names = {
        "entity": [e.name for e in entities],
        "topic": [t.name for t in topics],
        "source": [s.name for s in sources],
    }
    channels = tuple(_channel(c, f"channels[{i}].", check, names, env) for i, c in enumerate(raw))
    check.unique([c.name for c in channels], "channels")
    return channels


def _channel(
    c: dict[str, Any],
    at: str,
    check: Checker,
    names: dict[str, list[str]],
    env: dict[str, str] | None,
) -> Channel:
    check.table(c, CHANNEL, at)
    check.known(c.get("entities", []), names["entity"], at + "entities", "entity", "entities")
    topic_hint = "define it in a [[topics]] table; topics"
    check.known(c.get("topics", []), names["topic"], at + "topics", "topic", topic_hint)
    check.known(c.get("sources", []), names["source"], at + "sources", "source", "sources")
    fmt = c.get("format", "text")
    if fmt not in FORMATS:
        raise check.fail(at + "format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    url = c["url"]
    if env is not None:
        url = expand_env(url, f"{check.path}: {at}url", env)
        if not is_apprise_url(url):
            scheme = url.split("://", 1)[0] if "://" in url else url[:12]
            raise check.fail(
                at + "url",
                f"apprise does not understand this URL (scheme {scheme!r})",
                hint="see https://github.com/caronc/apprise/wiki for the URL of each service",
            )
    if c.get("raw") and env is not None and url.split("://", 1)[0].lower() not in WEBHOOK_SCHEMES:
        raise check.fail(
            at + "raw",
            "only a json://, xml:// or form:// webhook takes feed text raw",
            hint="chat services and email always get feed text defused; remove `raw`",
        )
    for key in ("title", "body"):
        problem = check_template(c[key]) if key in c else None
        if problem:
            raise check.fail(at + key, problem, 'example: title = "$entity: $title"')
    try:
        schedule = parse_schedule(c.get("digest", "immediate"))
    except ValueError as exc:
        raise check.fail(at + "digest", str(exc)) from None
    try:
        zone(c.get("timezone"))
    except ValueError as exc:
        raise check.fail(at + "timezone", str(exc), "an IANA name like Europe/Brussels") from None
    optional = {key: tuple(c[key]) if key in c else None for key in ("entities", "topics")}
    optional.update({key: tuple(c[key]) if key in c else None for key in ("sources", "tags")})
    return Channel(
        name=c["name"],
        url=url,
        format=fmt,
        title=c.get("title"),
        body=c.get("body"),
        schedule=schedule,
        timezone=c.get("timezone"),
        health=c.get("health", False),
        raw=c.get("raw", False),
        **optional,
    )


def _delivery(d: dict[str, Any], check: Checker) -> Delivery:
    check.table(d, DELIVERY, "delivery.")
    for key in ("max_attempts", "health_failures"):
        if key in d and d[key] < 1:
            raise check.fail(f"delivery.{key}", "must be at least 1")
    durations = {
        key: check.duration(d.get(key), f"delivery.{key}", getattr(Delivery, key))
        for key in ("retry_base", "retry_cap", "timeout", "story_window")
    }
    out = Delivery(**{**d, **durations})
    if out.retry_cap < out.retry_base:
        raise check.fail("delivery.retry_cap", "must not be shorter than delivery.retry_base")
    return out


def parse_listen(text: str, check: Checker) -> tuple[str, int]:
    """("127.0.0.1", 9187) from "127.0.0.1:9187", "[::1]:9187" or ":9187" (loopback)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise check.fail(
            "http.listen", f"{text!r} is not HOST:PORT", hint='write e.g. "127.0.0.1:9187"'
        )
    return host, int(port)
