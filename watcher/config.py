"""Load and validate the TOML configuration into frozen dataclasses.

Every mistake is reported as one ConfigError naming the file, the key path
(`sources[2].interval`) and, for a typo, the key that was probably meant.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watcher.errors import ConfigError

DEFAULT_CONFIG = "regwatch.toml"

# key -> (accepted types, required). A list spec ``[str]`` means "a list of strings".
Spec = dict[str, tuple[Any, bool]]

TOP: Spec = {
    "storage": (dict, False),
    "defaults": (dict, False),
    "sources": ([dict], False),
    "entities": ([dict], False),
    "channels": ([dict], False),
    "topics": ([dict], False),
    "delivery": (dict, False),
    "http": (dict, False),
}
STORAGE: Spec = {
    "path": (str, False),
    "retention": (str, False),
    "retention_hits": (str, False),
}
HTTP: Spec = {"listen": (str, False)}
DEFAULTS: Spec = {
    "interval": (str, False),
    "timeout": (str, False),
    "max_bytes": (int, False),
    "max_redirects": (int, False),
    "concurrency": (int, False),
    "alert_first_poll": (bool, False),
    "per_host": (int, False),
    "min_interval": (str, False),
    "allow_private": (bool, False),
}
SOURCE: Spec = {
    "name": (str, True),
    "url": (str, True),
    "interval": (str, False),
    "alert_first_poll": (bool, False),
    "enabled": (bool, False),
    "tags": ([str], False),
    "kind": (str, False),
    "selectors": (dict, False),
    "language": (str, False),
    "document_types": ([str], False),
    "full_text": (bool, False),
    "allow_private": (bool, False),
    "stale_after": (str, False),
}
SELECTORS: Spec = {
    "item": (str, False),
    "title": (str, False),
    "link": (str, False),
    "date": (str, False),
    "summary": (str, False),
}
KINDS = ("feed", "html", "presscorner")
MIN_INTERVAL = 60.0  # the politeness floor of a source's interval
MAX_INTERVAL = 24 * 3600.0  # and its ceiling
ENTITY: Spec = {
    "name": (str, True),
    "aliases": ([str], False),  # required unless exact_aliases is given (checked below)
    "exact_aliases": ([str], False),
    "weak_aliases": ([str], False),
    "context": ([str], False),
    "exact_context": ([str], False),
    "exclude": ([str], False),
}
TOPIC: Spec = {"name": (str, True), "terms": ([str], True)}
CHANNEL: Spec = {
    "name": (str, True),
    "url": (str, True),
    "entities": ([str], False),
    "format": (str, False),
    "topics": ([str], False),
    "sources": ([str], False),
    "tags": ([str], False),
    "title": (str, False),
    "body": (str, False),
    "digest": (str, False),
    "timezone": (str, False),
    "health": (bool, False),
}
FORMATS = ("text", "markdown", "html")
DELIVERY: Spec = {
    "retry_base": (str, False),
    "retry_cap": (str, False),
    "max_attempts": (int, False),
    "timeout": (str, False),
    "story_window": (str, False),
    "health_failures": (int, False),
}


@dataclass(frozen=True)
class Defaults:
    interval: float = 15 * 60.0
    timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    concurrency: int = 20
    alert_first_poll: bool = False
    per_host: int = 2
    min_interval: float = MIN_INTERVAL
    allow_private: bool = False


@dataclass(frozen=True)
class Selectors:
    """CSS selectors of an html source; the defaults fit Europa Component Library listings."""

    item: str = "article.ecl-content-item"
    title: str = ".ecl-content-block__title a, .ecl-content-block__title"
    link: str = ".ecl-content-block__title a[href], a[href]"
    date: str = "time[datetime], time, .ecl-content-block__primary-meta-item"
    summary: str = ".ecl-content-block__description"


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    interval: float = 15 * 60.0
    alert_first_poll: bool = False
    enabled: bool = True
    tags: tuple[str, ...] = ()
    kind: str = "feed"
    selectors: Selectors = Selectors()
    language: str = "en"
    document_types: tuple[str, ...] = ()
    full_text: bool = False
    allow_private: bool = False
    stale_after: float | None = None  # seconds without a new item before a health alert


@dataclass(frozen=True)
class Entity:
    name: str
    aliases: tuple[str, ...]
    exact_aliases: tuple[str, ...] = ()  # matched as written: case and accents count
    weak_aliases: tuple[str, ...] = ()  # count only with a context term in the same item
    context: tuple[str, ...] = ()
    exact_context: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()  # phrases that veto an alias occurrence they overlap


@dataclass(frozen=True)
class Topic:
    name: str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Channel:
    name: str
    url: str = field(repr=False)  # secrets inside: never print it, use masked_url
    entities: tuple[str, ...] | None = None
    format: str = "text"
    topics: tuple[str, ...] | None = None  # only hits whose item has one of these topics
    sources: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    title: str | None = None  # string.Template over watcher.template.FIELDS
    body: str | None = None
    digest: str = "immediate"  # or "hourly", "daily 08:00", "weekly mon 08:00"
    timezone: str | None = None  # IANA name for the digest schedule; None: the system's
    health: bool = False  # takes source-health alerts

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    def wants(
        self,
        entity: str,
        topics: Iterable[str] = (),
        source: str | None = None,
        tags: Iterable[str] = (),
    ) -> bool:
        """True when this channel takes hits for `entity` from `source` (with its `tags`).

        `topics` (the hit's topics) is passed for a channel filter on topics.
        """
        if self.topics is not None and not set(self.topics).intersection(topics):
            return False
        if self.entities is not None and entity not in self.entities:
            return False
        if self.sources is not None and source not in self.sources:
            return False
        return self.tags is None or bool(set(self.tags).intersection(tags))


@dataclass(frozen=True)
class Delivery:
    """The [delivery] table: retries, send deadline, story window, health threshold."""

    retry_base: float = 60.0
    retry_cap: float = 3600.0
    max_attempts: int = 10
    timeout: float = 30.0
    story_window: float = 48 * 3600.0
    health_failures: int = 3


@dataclass(frozen=True)
class Config:
    path: Path
    storage_path: Path
    defaults: Defaults = Defaults()
    sources: tuple[Source, ...] = ()
    entities: tuple[Entity, ...] = ()
    channels: tuple[Channel, ...] = ()
    topics: tuple[Topic, ...] = ()
    delivery: Delivery = Delivery()
    notes: tuple[str, ...] = ()  # adjustments worth a word (e.g. a clamped interval)
    # [storage] retention / retention_hits in seconds; None keeps everything.
    retention: float | None = None
    retention_hits: float | None = None
    # [http] listen as (host, port); None: no HTTP server.
    http_listen: tuple[str, int] | None = None

    def channels_for(
        self, entity: str, topics: Iterable[str] = (), source: str | None = None
    ) -> list[str]:
        """Names of the channels that take a hit for `entity` with `topics` from `source`."""
        tags = next((s.tags for s in self.sources if s.name == source), ())
        return [c.name for c in self.channels if c.wants(entity, topics, source=source, tags=tags)]

    def source(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        raise ConfigError(
            f"no source named {name!r} in {self.path}",
            hint="known sources: " + ", ".join(s.name for s in self.sources),
        )


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in a duration like "90s", "15m", "1h30m" or "1d"; ValueError if malformed."""
    cleaned = text.strip().lower()
    parts = _DURATION.findall(cleaned)
    if not parts or _DURATION.sub("", cleaned).strip():
        raise ValueError(f'{text!r} is not a duration; write e.g. "90s", "15m", "1h", "1d"')
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return seconds


def mask_url(url: str) -> str:
    """The URL with passwords, tokens and keys replaced by asterisks (apprise's privacy mode)."""
    import apprise

    try:
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # noqa: BLE001 - a URL apprise chokes on is still masked below
        plugin = None
    if plugin:
        return str(plugin.url(privacy=True))
    scheme = url.split("://", 1)[0] if "://" in url else "?"
    return f"{scheme}://****"


def url_has_secret(url: str) -> bool:
    """True when masking changes the URL (a password, token or key in it); unknown URLs: True."""
    import apprise

    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if not plugin:
        return True
    return bool(plugin.url(privacy=True) != plugin.url(privacy=False))


_ENV = re.compile(r"\$\{([^}]*)\}")
CREDENTIAL_PREFIX = "credential:"
_CREDENTIAL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def expand_env(value: str, where: str, env: dict[str, str]) -> str:
    """Replace ${NAME} with the environment variable NAME and ${credential:NAME} with the
    systemd credential NAME; a missing one is a ConfigError."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.startswith(CREDENTIAL_PREFIX):
            return read_credential(name[len(CREDENTIAL_PREFIX) :], where, env)
        if name not in env:
            raise ConfigError(
                f"{where}: environment variable {name!r} is not set",
                hint=f"export {name}=... before starting regwatch, or write the value in the file",
            )
        return env[name]

    return _ENV.sub(sub, value)


def credential_path(name: str, where: str, env: dict[str, str]) -> Path:
    """Where systemd put credential `name`: $CREDENTIALS_DIRECTORY/name."""
    if not _CREDENTIAL_NAME.match(name):
        raise ConfigError(
            f"{where}: {name!r} is not a credential name",
            hint="use letters, digits, '_', '.' and '-' only, as in LoadCredential=NAME:PATH",
        )
    folder = env.get("CREDENTIALS_DIRECTORY")
    if not folder:
        raise ConfigError(
            f"{where}: credential {name!r} is referenced but $CREDENTIALS_DIRECTORY is not set",
            hint=f"run under systemd with LoadCredential={name}:/path/to/file, or set "
            "CREDENTIALS_DIRECTORY to a folder holding a file of that name",
        )
    return Path(folder) / name


def read_credential(name: str, where: str, env: dict[str, str]) -> str:
    """The content of credential `name`, without its trailing newline; ConfigError if absent."""
    path = credential_path(name, where, env)
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except FileNotFoundError:
        raise ConfigError(
            f"{where}: credential {name!r} not found ({path} does not exist)",
            hint=f"add LoadCredential={name}:/path/to/file to the unit, or create {path}",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read credential {name!r}: {exc}") from None


def missing_credentials(path: str | Path, env: dict[str, str] | None = None) -> list[str]:
    """One line per ${credential:NAME} in the config's channel URLs that cannot be read."""
    env = dict(os.environ) if env is None else env
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []  # load_config reports these properly
    missing = []
    channels = raw.get("channels", [])
    for i, channel in enumerate(channels if isinstance(channels, list) else []):
        url = channel.get("url") if isinstance(channel, dict) else None
        for ref in _ENV.findall(url if isinstance(url, str) else ""):
            if ref.startswith(CREDENTIAL_PREFIX):
                try:
                    read_credential(ref[len(CREDENTIAL_PREFIX) :], f"channels[{i}].url", env)
                except ConfigError as exc:
                    missing.append(exc.message)
    return missing


def _type_name(spec: Any) -> str:
    if isinstance(spec, list):
        return f"a list of {_type_name(spec[0])}"
    return {str: "a string", int: "an integer", bool: "true or false", dict: "a table"}[spec]


def _has_type(value: Any, spec: Any) -> bool:
    if isinstance(spec, list):
        return isinstance(value, list) and all(_has_type(v, spec[0]) for v in value)
    if spec is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, spec)


class _Checker:
    """Walks the parsed TOML against the specs, raising ConfigError with file and key path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, message: str, hint: str = "") -> ConfigError:
        return ConfigError(f"{self.path}: {where}: {message}", hint=hint)

    def table(self, data: dict[str, Any], spec: Spec, where: str) -> dict[str, Any]:
        for key in data:
            if key not in spec:
                close = difflib.get_close_matches(key, list(spec), n=1)
                hint = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(spec)
                raise self.fail(f"{where}{key}" if where else key, "unknown key", hint)
        for key, (kind, required) in spec.items():
            at = f"{where}{key}"
            if key not in data:
                if required:
                    raise self.fail(at, "missing required key")
                continue
            if not _has_type(data[key], kind):
                got = type(data[key]).__name__
                raise self.fail(at, f"must be {_type_name(kind)}, not {got}")
        return data

    def duration(self, value: str | None, where: str, default: float) -> float:
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.fail(where, str(exc)) from None

    def unique(self, names: list[str], where: str) -> None:
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                raise self.fail(f"{where}[{i}].name", f"duplicate name {name!r}")
            seen.add(name)


def parse_config(
    text: str, path: Path, env: dict[str, str] | None = None, expand: bool = True
) -> Config:
    """Validate TOML text as a regwatch config; relative paths resolve against `path`'s folder."""
    env = dict(os.environ) if env is None else env
    check = _Checker(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid TOML: {exc}", hint="fix the syntax at that line"
        ) from None
    check.table(raw, TOP, "")

    storage = check.table(raw.get("storage", {}), STORAGE, "storage.")
    db_path = Path(os.path.expanduser(storage.get("path", "regwatch.db")))
    if not db_path.is_absolute():
        db_path = path.parent / db_path
    retention = {
        key: check.duration(storage[key], f"storage.{key}", 0.0) if key in storage else None
        for key in ("retention", "retention_hits")
    }
    http = check.table(raw.get("http", {}), HTTP, "http.")
    http_listen = parse_listen(http["listen"], check) if "listen" in http else None

    d = check.table(raw.get("defaults", {}), DEFAULTS, "defaults.")
    for key in ("max_bytes", "max_redirects", "concurrency", "per_host"):
        if key in d and d[key] < (0 if key == "max_redirects" else 1):
            raise check.fail(f"defaults.{key}", "must be a positive number")
    defaults = Defaults(
        interval=check.duration(d.get("interval"), "defaults.interval", Defaults.interval),
        timeout=check.duration(d.get("timeout"), "defaults.timeout", Defaults.timeout),
        max_bytes=d.get("max_bytes", Defaults.max_bytes),
        max_redirects=d.get("max_redirects", Defaults.max_redirects),
        concurrency=d.get("concurrency", Defaults.concurrency),
        alert_first_poll=d.get("alert_first_poll", Defaults.alert_first_poll),
        per_host=d.get("per_host", Defaults.per_host),
        min_interval=check.duration(
            d.get("min_interval"), "defaults.min_interval", Defaults.min_interval
        ),
        allow_private=d.get("allow_private", Defaults.allow_private),
    )

    sources = []
    notes: list[str] = []  # things worth telling the user that are not errors
    for i, s in enumerate(raw.get("sources", [])):
        at = f"sources[{i}]."
        check.table(s, SOURCE, at)
        if not re.match(r"^https?://", s["url"], re.I):
            raise check.fail(at + "url", f"{s['url']!r} is not an http:// or https:// URL")
        kind = s.get("kind", "feed")
        if kind not in KINDS:
            close = difflib.get_close_matches(kind, KINDS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "kinds: " + ", ".join(KINDS)
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
        sources.append(
            Source(
                name=s["name"],
                url=s["url"],
                interval=polled,
                alert_first_poll=s.get("alert_first_poll", defaults.alert_first_poll),
                enabled=s.get("enabled", True),
                tags=tuple(s.get("tags", ())),
                kind=kind,
                selectors=_selectors(check, s.get("selectors", {}), at + "selectors."),
                language=s.get("language", "en").lower(),
                document_types=tuple(t.upper() for t in s.get("document_types", ())),
                full_text=s.get("full_text", False),
                allow_private=s.get("allow_private", defaults.allow_private),
                stale_after=check.duration(s.get("stale_after"), at + "stale_after", 0) or None,
            )
        )
    check.unique([s.name for s in sources], "sources")

    entities = [
        parse_entity(e, f"entities[{i}].", check) for i, e in enumerate(raw.get("entities", []))
    ]
    check.unique([e.name for e in entities], "entities")
    check_alias_overlap(entities, check)
    entity_names = [e.name for e in entities]

    topics = []
    for i, t in enumerate(raw.get("topics", [])):
        at = f"topics[{i}]."
        check.table(t, TOPIC, at)
        terms = tuple(x for x in t["terms"] if x.strip())
        if not terms:
            raise check.fail(at + "terms", "needs at least one non-empty term")
        topics.append(Topic(name=t["name"], terms=terms))
    check.unique([t.name for t in topics], "topics")
    topic_names = [t.name for t in topics]

    channels = []
    for i, c in enumerate(raw.get("channels", [])):
        at = f"channels[{i}]."
        check.table(c, CHANNEL, at)
        for name in c.get("entities", []):
            if name not in entity_names:
                close = difflib.get_close_matches(name, entity_names, n=1)
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else "entities: " + ", ".join(entity_names)
                )
                raise check.fail(at + "entities", f"unknown entity {name!r}", hint)
        for name in c.get("topics", []):
            if name not in topic_names:
                close = difflib.get_close_matches(name, topic_names, n=1)
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else "define it in a [[topics]] table; topics: " + ", ".join(topic_names)
                )
                raise check.fail(at + "topics", f"unknown topic {name!r}", hint)
        fmt = c.get("format", "text")
        if fmt not in FORMATS:
            raise check.fail(at + "format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
        url = expand_env(c["url"], f"{path}: {at}url", env) if expand else c["url"]
        if expand:
            _check_apprise_url(url, check, at + "url")
        ents = c.get("entities")
        channels.append(
            Channel(
                name=c["name"],
                url=url,
                entities=tuple(ents) if ents is not None else None,
                format=fmt,
                topics=tuple(c["topics"]) if "topics" in c else None,
                **_channel_delivery(c, check, at, [s.name for s in sources]),
            )
        )
    check.unique([c.name for c in channels], "channels")

    return Config(
        path=path,
        storage_path=db_path,
        defaults=defaults,
        sources=tuple(sources),
        entities=tuple(entities),
        channels=tuple(channels),
        topics=tuple(topics),
        delivery=_delivery(raw.get("delivery", {}), check),
        retention=retention["retention"],
        retention_hits=retention["retention_hits"],
        http_listen=http_listen,
        notes=tuple(notes),
    )


def _selectors(check: _Checker, raw: dict[str, Any], where: str) -> Selectors:
    """The html selectors, each compiled once here so a typo stops start-up, not a poll."""
    import soupsieve

    check.table(raw, SELECTORS, where)
    for key, value in raw.items():
        try:
            soupsieve.compile(value)
        except Exception as exc:  # noqa: BLE001 - soupsieve raises several kinds
            raise check.fail(where + key, f"{value!r} is not a CSS selector: {exc}") from None
    return Selectors(**raw)


def parse_entity(e: dict[str, Any], at: str, check: _Checker) -> Entity:
    """One [[entities]] table as an Entity; blank terms are dropped."""
    check.table(e, ENTITY, at)
    lists = {key: tuple(x for x in e.get(key, []) if x.strip()) for key in ENTITY if key != "name"}
    if "aliases" not in e and "exact_aliases" not in e:
        raise check.fail(at + "aliases", "missing required key", hint="or give exact_aliases")
    if not lists["aliases"] and not lists["exact_aliases"]:
        raise check.fail(at + "aliases", "needs at least one non-empty alias")
    if lists["weak_aliases"] and not (lists["context"] or lists["exact_context"]):
        raise check.fail(
            at + "weak_aliases",
            "weak aliases count only with a context term, and there is none",
            hint="add context = [...] or exact_context = [...] to this entity",
        )
    return Entity(name=e["name"], **lists)


def check_alias_overlap(entities: list[Entity], check: _Checker) -> None:
    """An alias (case and accents ignored) may belong to one entity, and only once."""
    from watcher.normalize import fold

    owners: dict[str, tuple[int, str, str]] = {}  # folded alias -> entity index, key, path
    for i, e in enumerate(entities):
        for key in ("aliases", "exact_aliases", "weak_aliases"):
            for j, alias in enumerate(getattr(e, key)):
                where = f"entities[{i}].{key}[{j}]"
                first = owners.setdefault(fold.term(alias), (i, key, where))
                if first[:2] == (i, key):
                    continue  # new, or the same alias twice in one list: harmless
                raise check.fail(
                    where,
                    f"alias {alias!r} is also an alias of {entities[first[0]].name!r} ({first[2]})",
                    hint="an alias must name one entity: remove it from one of them",
                )


def _channel_delivery(
    c: dict[str, Any], check: _Checker, at: str, source_names: list[str]
) -> dict[str, Any]:
    """The routing, template, digest and health keys of one [[channels]] table, validated."""
    from watcher.digest import parse_schedule, zone
    from watcher.template import check_template

    for name in c.get("sources", []):
        if name not in source_names:
            close = difflib.get_close_matches(name, source_names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "sources: " + ", ".join(source_names)
            raise check.fail(at + "sources", f"unknown source {name!r}", hint)
    for key in ("title", "body"):
        if key in c:
            problem = check_template(c[key])
            if problem:
                raise check.fail(at + key, problem, 'example: title = "$entity: $title"')
    digest = " ".join(c.get("digest", "immediate").split())
    try:
        parse_schedule(digest)
    except ValueError as exc:
        raise check.fail(at + "digest", str(exc)) from None
    if "timezone" in c:
        try:
            zone(c["timezone"])
        except ValueError as exc:
            raise check.fail(
                at + "timezone", str(exc), "an IANA name like Europe/Brussels"
            ) from None
    return {
        "sources": tuple(c["sources"]) if "sources" in c else None,
        "tags": tuple(c["tags"]) if "tags" in c else None,
        "title": c.get("title"),
        "body": c.get("body"),
        "digest": digest,
        "timezone": c.get("timezone"),
        "health": c.get("health", False),
    }


def _delivery(d: dict[str, Any], check: _Checker) -> Delivery:
    check.table(d, DELIVERY, "delivery.")
    for key in ("max_attempts", "health_failures"):
        if key in d and d[key] < 1:
            raise check.fail(f"delivery.{key}", "must be at least 1")
    base = Delivery()
    out = Delivery(
        retry_base=check.duration(d.get("retry_base"), "delivery.retry_base", base.retry_base),
        retry_cap=check.duration(d.get("retry_cap"), "delivery.retry_cap", base.retry_cap),
        max_attempts=d.get("max_attempts", base.max_attempts),
        timeout=check.duration(d.get("timeout"), "delivery.timeout", base.timeout),
        story_window=check.duration(
            d.get("story_window"), "delivery.story_window", base.story_window
        ),
        health_failures=d.get("health_failures", base.health_failures),
    )
    if out.retry_cap < out.retry_base:
        raise check.fail("delivery.retry_cap", "must not be shorter than delivery.retry_base")
    return out


def parse_listen(text: str, check: _Checker) -> tuple[str, int]:
    """("127.0.0.1", 9187) from "127.0.0.1:9187", "[::1]:9187" or ":9187" (loopback)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise check.fail(
            "http.listen", f"{text!r} is not HOST:PORT", hint='write e.g. "127.0.0.1:9187"'
        )
    return host, int(port)


def _check_apprise_url(url: str, check: _Checker, where: str) -> None:
    import apprise

    if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
        scheme = url.split("://", 1)[0] if "://" in url else url[:12]
        raise check.fail(
            where,
            f"apprise does not understand this URL (scheme {scheme!r})",
            hint="see https://github.com/caronc/apprise/wiki for the URL of each service",
        )


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
    check_permissions(p, text, config)
    return config


def check_permissions(path: Path, text: str, config: Config) -> None:
    """Refuse a group- or world-writable config that holds or references a secret.

    Whoever can write the file can point a channel at their own server and receive the
    secret, so a ${...} reference counts as much as a password written in the URL.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if not mode & 0o022:
        return
    raw = tomllib.loads(text).get("channels", [])
    secret = [
        c.name
        for c, r in zip(config.channels, raw, strict=False)
        if "${" in str(r.get("url", "")) or url_has_secret(c.url)
    ]
    if secret:
        who = (
            "group- and world" if mode & 0o022 == 0o022 else ("group" if mode & 0o020 else "world")
        )
        raise ConfigError(
            f"{path} is {who}-writable and holds secrets (channels: {', '.join(secret)})",
            hint=f"chmod go-w {path}: anyone who can edit it can redirect the alerts and their secrets",
        )
