"""Secrets in the config: ${ENV} and ${credential:NAME} references, masking, file permissions.

Channel URLs carry passwords and tokens. They are read from the environment or from
systemd credentials, printed and logged only masked (apprise's privacy mode), and a
config file that others may write is refused when it holds or references one.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from watcher.errors import ConfigError

_ENV = re.compile(r"\$\{([^}]*)\}")
CREDENTIAL_PREFIX = "credential:"
_CREDENTIAL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


# Generic webhooks (apprise URL schemes): apprise cannot tell a token in their URL
# (json://host/hooks/<token>), and they get feed text defused unless a channel says raw.
WEBHOOK_SCHEMES = frozenset(["json", "jsons", "xml", "xmls", "form", "forms"])
_PIECES = re.compile(r"[/?&=:@#,]+")  # what separates the pieces of a URL
MIN_PIECE = 4  # shorter differing pieces are not masked on their own (too common to replace)


def _plugin(url: str) -> Any:
    import apprise

    try:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # noqa: BLE001 - a URL apprise chokes on is masked by other means
        return None


def looks_like_token(piece: str) -> bool:
    """A generic webhook's path segment or query value that is probably a secret: 8+
    characters mixing letters and digits, or 20+ characters."""
    if len(piece) >= 20:
        return True
    return len(piece) >= 8 and any(c.isalpha() for c in piece) and any(c.isdigit() for c in piece)


def secret_pieces(url: str) -> list[str]:
    """The secret parts of a channel URL, longest first: what apprise's privacy mode hides
    (passwords, tokens and keys in the path or the query), and for generic json/xml/form
    webhooks (or URLs apprise does not know) the password and every path segment or query
    value that looks like a token. Each is masked on its own in logs, because a service's
    request line carries the token without the rest of the URL (`POST /hooks/<token>`)."""
    pieces: set[str] = set()
    plugin = _plugin(url)
    if plugin:
        full, private = (
            _PIECES.split(plugin.url(privacy=False)),
            _PIECES.split(plugin.url(privacy=True)),
        )
        if len(full) == len(private):
            pieces |= {a for a, b in zip(full, private, strict=True) if a != b}
        else:
            pieces |= set(full) - set(private)
    scheme = url.split("://", 1)[0].lower()
    if plugin is None or scheme in WEBHOOK_SCHEMES:
        parts = urlsplit(url)
        if parts.password:
            pieces.add(parts.password)
        found = parts.path.split("/") + [v for _, v in parse_qsl(parts.query)]
        pieces |= {p for p in found if looks_like_token(p)}
    pieces |= {unquote(p) for p in pieces}
    return sorted({p for p in pieces if len(p) >= MIN_PIECE}, key=lambda p: (-len(p), p))


def mask_piece(piece: str) -> str:
    """How a secret piece is shown: its first and last characters when long (as apprise
    does), else asterisks only."""
    return f"{piece[0]}...{piece[-1]}" if len(piece) >= 12 else "****"


def mask_url(url: str) -> str:
    """The URL with passwords, tokens and keys masked (apprise's privacy mode, plus the
    token-like path segments and query values of generic webhooks)."""
    plugin = _plugin(url)
    if not plugin:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        return f"{scheme}://****"
    masked = str(plugin.url(privacy=True))
    if url.split("://", 1)[0].lower() in WEBHOOK_SCHEMES:
        for piece in secret_pieces(url):
            masked = masked.replace(piece, mask_piece(piece))
    return masked


_DSN_PASSWORD = re.compile(r"^([a-z]+://[^/@:]*):[^/@]*@", re.I)
_DSN_PARAM = re.compile(r"([?&](?:password|sslpassword)=)[^&]*", re.I)


def mask_dsn(url: str) -> str:
    """A libpq URL with its password (in the userinfo or a password= parameter) masked."""
    return _DSN_PARAM.sub(r"\1****", _DSN_PASSWORD.sub(r"\1:****@", url))


def url_has_secret(url: str) -> bool:
    """True when masking changes the URL (a password, token or key in it); unknown URLs: True."""
    if not _plugin(url):
        return True
    return bool(secret_pieces(url))


def is_apprise_url(url: str) -> bool:
    """True when apprise knows the service this URL names."""
    import apprise

    return apprise.Apprise.instantiate(url, suppress_exceptions=True) is not None


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
    """One line per ${credential:NAME} in the config's channel and storage URLs that cannot
    be read."""
    env = dict(os.environ) if env is None else env
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []  # load_config reports these properly
    missing = []
    channels = raw.get("channels", [])
    urls = [
        (f"channels[{i}].url", channel.get("url"))
        for i, channel in enumerate(channels if isinstance(channels, list) else [])
        if isinstance(channel, dict)
    ]
    storage = raw.get("storage")
    if isinstance(storage, dict):
        urls.append(("storage.url", storage.get("url")))
    for where, url in urls:
        for ref in _ENV.findall(url if isinstance(url, str) else ""):
            if ref.startswith(CREDENTIAL_PREFIX):
                try:
                    read_credential(ref[len(CREDENTIAL_PREFIX) :], where, env)
                except ConfigError as exc:
                    missing.append(exc.message)
    return missing


def check_permissions(
    path: Path, text: str, channels: Iterable[tuple[str, str]], storage_url: str | None = None
) -> None:
    """Refuse a group- or world-writable config that holds or references a secret.

    `channels` are (name, expanded URL) in file order; `storage_url` the expanded [storage]
    url. Whoever can write the file can point a channel (or the database) at their own
    server and receive the secret, so a ${...} reference counts as much as a password
    written in the URL.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if not mode & 0o022:
        return
    parsed = tomllib.loads(text)
    raw = parsed.get("channels", [])
    secret = [
        name
        for (name, url), r in zip(channels, raw, strict=False)
        if "${" in str(r.get("url", "")) or url_has_secret(url)
    ]
    holders = [f"channels: {', '.join(secret)}"] if secret else []
    written = str(parsed.get("storage", {}).get("url", ""))
    if storage_url and ("${" in written or mask_dsn(storage_url) != storage_url):
        holders.append("[storage] url")
    if holders:
        who = (
            "group- and world" if mode & 0o022 == 0o022 else ("group" if mode & 0o020 else "world")
        )
        raise ConfigError(
            f"{path} is {who}-writable and holds secrets ({'; '.join(holders)})",
            hint=f"chmod go-w {path}: anyone who can edit it can redirect the alerts and their secrets",
        )
