"""Logging set-up: plain or JSON lines on standard error, with secrets masked.

Masking is a safety net in the formatter of the one handler (on the root logger), so it
covers every logger (ours, apprise's, httpx's, urllib3's request lines) and tracebacks too:
registered channel URLs are replaced by their masked form, each secret piece of them (a
token in a path, a password, a key in the query) by its own masked form wherever it
appears alone, and any `scheme://user:password@` left is cut to `scheme://user:****@`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime

from watcher.config.secrets import mask_piece, mask_url, secret_pieces, url_has_secret

_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*):[^/\s@]+@")
_secrets: dict[str, str] = {}  # secret -> its masked form
_lock = threading.Lock()


def register_secrets(urls: Iterable[str]) -> None:
    """Mask these channel URLs wherever they would appear in a log line, and each secret
    piece of them (a token in a path, a password) wherever it appears on its own."""
    found: dict[str, str] = {}
    for url in urls:
        if not url or not url_has_secret(url):
            continue
        found[url] = mask_url(url)
        found.update((piece, mask_piece(piece)) for piece in secret_pieces(url))
    with _lock:
        _secrets.update(found)


def register_masked(secret: str, masked: str) -> None:
    """Show `secret` (a database URL with a password) as `masked` in every log line."""
    if secret and secret != masked:
        with _lock:
            _secrets[secret] = masked


def mask_secrets(text: str) -> str:
    """`text` with registered secrets and URL passwords masked."""
    with _lock:
        known = sorted(_secrets.items(), key=lambda kv: -len(kv[0]))
    for secret, masked in known:
        if secret in text:
            text = text.replace(secret, masked)
    return _USERINFO.sub(r"\1:****@", text)


class LogFormatter(logging.Formatter):
    """`time LEVEL logger: message`, or one JSON object per line with `json=True`."""

    def __init__(self, json_lines: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        if not self.json_lines:
            return mask_secrets(super().format(record))
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask_secrets(record.getMessage()),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = mask_secrets(self.formatException(record.exc_info))
        # The whole line once more: structured fields may hold a URL too.
        return mask_secrets(json.dumps(entry, ensure_ascii=False, default=str))


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    """Log to standard error at `level` in `fmt` ("text" or "json")."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter(json_lines=fmt == "json"))
    handler.set_name("regwatch")
    root = logging.getLogger()
    for old in list(root.handlers):  # only ours: a test runner's capture handlers stay
        if old.get_name() == "regwatch":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    for noisy in ("httpx", "httpcore", "apscheduler", "apprise"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
