"""Log lines: text or JSON, and secrets masked whatever logs them."""

from __future__ import annotations

import json
import logging

from watcher.logs import LogFormatter, mask_secrets, register_secrets

SLACK = "slack://T1ABCDEF/B2GHIJK/q9secretTOKENq9"


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError(f"cannot reach {SLACK}")
        except RuntimeError:
            import sys

            exc_info = sys.exc_info()
    return logging.LogRecord("apprise", logging.WARNING, __file__, 1, message, args, exc_info)


def test_registered_channel_urls_are_masked_in_text_and_json_lines():
    register_secrets([SLACK, "json://127.0.0.1:9/hook"])
    for json_lines in (False, True):
        line = LogFormatter(json_lines).format(record("sending to %s failed", SLACK, exc=True))
        assert "q9secretTOKENq9" not in line
        assert "slack://T...F/B...K/q...9" in line
    entry = json.loads(LogFormatter(True).format(record("sending to %s", SLACK)))
    assert entry["level"] == "warning" and entry["logger"] == "apprise"
    assert entry["message"].startswith("sending to slack://")
    # A URL with no secret stays readable.
    assert mask_secrets("json://127.0.0.1:9/hook") == "json://127.0.0.1:9/hook"


def test_passwords_in_any_url_are_masked_even_unregistered():
    line = LogFormatter().format(record("GET https://bob:hunter2@feeds.example.com/x failed"))
    assert "hunter2" not in line and "https://bob:****@feeds.example.com/x" in line


def test_json_log_lines_carry_structured_fields():
    rec = record("poll cycle: 3 sources polled")
    rec.fields = {"polls": 3, "errors": 0}
    entry = json.loads(LogFormatter(True).format(rec))
    assert entry["polls"] == 3 and entry["errors"] == 0
