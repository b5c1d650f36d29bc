"""The config file's keys, their types, and a checker that names file and key path.

Each table's spec maps a key to (accepted type, required). A list spec ``[str]`` means
"a list of strings". `TABLES` names every table as docs/configuration.md heads it.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from watcher.errors import ConfigError
from watcher.timeparse import parse_duration

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
    "web": (dict, False),
}
STORAGE: Spec = {
    "path": (str, False),
    "url": (str, False),
    "lease": (str, False),
    "busy_timeout": (str, False),
    "retention": (str, False),
    "retention_hits": (str, False),
    "retention_evidence": (str, False),
}
HTTP: Spec = {"listen": (str, False)}
WEB: Spec = {
    "base_url": (str, False),
    "anonymous": (str, False),
    "accounts": ([dict], False),
}
ACCOUNT: Spec = {"name": (str, True), "password_hash": (str, True)}
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
    "workers": (int, False),
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
    "archive_links": (bool, False),
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
ENTITY: Spec = {
    "name": (str, True),
    "aliases": ([str], False),  # required unless exact_aliases is given (checked by the loader)
    "exact_aliases": ([str], False),
    "weak_aliases": ([str], False),
    "exact_weak_aliases": ([str], False),
    "context": ([str], False),
    "exact_context": ([str], False),
    "exclude": ([str], False),
    "variants": (bool, False),
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
    "raw": (bool, False),
}
DELIVERY: Spec = {
    "retry_base": (str, False),
    "retry_cap": (str, False),
    "max_attempts": (int, False),
    "timeout": (str, False),
    "story_window": (str, False),
    "health_failures": (int, False),
}

# Every table, named as the docs head it: "sources" is [[sources]], "sources.selectors" its
# sub-table.
TABLES: dict[str, Spec] = {
    "storage": STORAGE,
    "defaults": DEFAULTS,
    "sources": SOURCE,
    "sources.selectors": SELECTORS,
    "entities": ENTITY,
    "topics": TOPIC,
    "channels": CHANNEL,
    "delivery": DELIVERY,
    "http": HTTP,
    "web": WEB,
    "web.accounts": ACCOUNT,
}


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


def did_you_mean(name: str, known: list[str], listing: str) -> str:
    """A hint for an unknown name: the closest known one, else `listing` and the known names."""
    close = difflib.get_close_matches(name, known, n=1)
    return f"did you mean {close[0]!r}?" if close else f"{listing}: " + ", ".join(known)


class Checker:
    """Walks the parsed TOML against the specs, raising ConfigError with file and key path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, message: str, hint: str = "") -> ConfigError:
        return ConfigError(f"{self.path}: {where}: {message}", hint=hint)

    def table(self, data: dict[str, Any], spec: Spec, where: str) -> dict[str, Any]:
        """`data` after checking its keys and their types against `spec`."""
        for key in data:
            if key not in spec:
                hint = did_you_mean(key, list(spec), "known keys")
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
        """Seconds in a duration value, or `default` when it is absent."""
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.fail(where, str(exc)) from None

    def known(self, names: list[str], known: list[str], where: str, what: str, hint: str) -> None:
        """Each of `names` must be one of `known` (entities, topics, sources of a channel)."""
        for name in names:
            if name not in known:
                raise self.fail(where, f"unknown {what} {name!r}", did_you_mean(name, known, hint))

    def unique(self, names: list[str], where: str) -> None:
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                raise self.fail(f"{where}[{i}].name", f"duplicate name {name!r}")
            seen.add(name)
