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
    "delivery": (dict, False),
}
STORAGE: Spec = {"path": (str, False)}
DEFAULTS: Spec = {
    "interval": (str, False),
    "timeout": (str, False),
    "max_bytes": (int, False),
    "max_redirects": (int, False),
    "concurrency": (int, False),
    "alert_first_poll": (bool, False),
}
SOURCE: Spec = {
    "name": (str, True),
    "url": (str, True),
    "interval": (str, False),
    "alert_first_poll": (bool, False),
    "enabled": (bool, False),
    "tags": ([str], False),
    "stale_after": (str, False),
}
ENTITY: Spec = {"name": (str, True), "aliases": ([str], True)}
CHANNEL: Spec = {
    "name": (str, True),
    "url": (str, True),
    "entities": ([str], False),
    "format": (str, False),
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


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    interval: float = 15 * 60.0
    alert_first_poll: bool = False
    enabled: bool = True
    tags: tuple[str, ...] = ()
    stale_after: float | None = None  # seconds without a new item before a health alert


@dataclass(frozen=True)
class Entity:
    name: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Channel:
    name: str
    url: str = field(repr=False)  # secrets inside: never print it, use masked_url
    entities: tuple[str, ...] | None = None
    format: str = "text"
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
    delivery: Delivery = Delivery()

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


_ENV = re.compile(r"\$\{([^}]*)\}")


def expand_env(value: str, where: str, env: dict[str, str]) -> str:
    """Replace ${NAME} with the environment variable NAME; a missing one is a ConfigError."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in env:
            raise ConfigError(
                f"{where}: environment variable {name!r} is not set",
                hint=f"export {name}=... before starting regwatch, or write the value in the file",
            )
        return env[name]

    return _ENV.sub(sub, value)


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

    d = check.table(raw.get("defaults", {}), DEFAULTS, "defaults.")
    for key in ("max_bytes", "max_redirects", "concurrency"):
        if key in d and d[key] < (0 if key == "max_redirects" else 1):
            raise check.fail(f"defaults.{key}", "must be a positive number")
    defaults = Defaults(
        interval=check.duration(d.get("interval"), "defaults.interval", Defaults.interval),
        timeout=check.duration(d.get("timeout"), "defaults.timeout", Defaults.timeout),
        max_bytes=d.get("max_bytes", Defaults.max_bytes),
        max_redirects=d.get("max_redirects", Defaults.max_redirects),
        concurrency=d.get("concurrency", Defaults.concurrency),
        alert_first_poll=d.get("alert_first_poll", Defaults.alert_first_poll),
    )

    sources = []
    for i, s in enumerate(raw.get("sources", [])):
        at = f"sources[{i}]."
        check.table(s, SOURCE, at)
        if not re.match(r"^https?://", s["url"], re.I):
            raise check.fail(at + "url", f"{s['url']!r} is not an http:// or https:// URL")
        sources.append(
            Source(
                name=s["name"],
                url=s["url"],
                interval=check.duration(s.get("interval"), at + "interval", defaults.interval),
                alert_first_poll=s.get("alert_first_poll", defaults.alert_first_poll),
                enabled=s.get("enabled", True),
                tags=tuple(s.get("tags", ())),
                stale_after=check.duration(s.get("stale_after"), at + "stale_after", 0) or None,
            )
        )
    check.unique([s.name for s in sources], "sources")

    entities = []
    for i, e in enumerate(raw.get("entities", [])):
        at = f"entities[{i}]."
        check.table(e, ENTITY, at)
        aliases = [a for a in e["aliases"] if a.strip()]
        if not aliases:
            raise check.fail(at + "aliases", "needs at least one non-empty alias")
        entities.append(Entity(name=e["name"], aliases=tuple(aliases)))
    check.unique([e.name for e in entities], "entities")
    entity_names = [e.name for e in entities]

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
        delivery=_delivery(raw.get("delivery", {}), check),
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
    return parse_config(text, p, env)
