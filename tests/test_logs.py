"""Log lines: text or JSON, and secrets masked whatever logs them."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from conftest import rss

from watcher.config.secrets import mask_url, secret_pieces
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


# -- secret pieces of channel URLs in any logger's lines (issue 15.3) -------------------------

MM_TOKEN = "Tok3nMattermost77"
JSON_TOKEN = "Ab12Cd34Ef56xyz"
XML_TOKEN = "x" * 12 + "9" * 12  # 24 characters: a token by its length


@pytest.mark.parametrize(
    "url,request_line,secrets",
    [
        pytest.param(
            "slack://T1ABCDEF/B2GHIJK/q9secretTOKENq9",
            'https://hooks.slack.com:443 "POST /services/T1ABCDEF/B2GHIJK/q9secretTOKENq9 '
            'HTTP/1.1" 500 0',
            ["q9secretTOKENq9", "T1ABCDEF", "B2GHIJK"],
            id="slack",
        ),
        pytest.param(
            f"mmost://chat.example.org:8065/{MM_TOKEN}",
            f'http://chat.example.org:8065 "POST /hooks/{MM_TOKEN} HTTP/1.1" 500 0',
            [MM_TOKEN],
            id="mattermost",
        ),
        pytest.param(
            "discord://123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            'https://discord.com:443 "POST /api/webhooks/123456789012345678/'
            'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789?wait=true HTTP/1.1" 500 0',
            ["AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "123456789012345678"],
            id="discord",
        ),
        pytest.param(
            "workflows://prod-01.westeurope.logic.azure.com:443/a1b2c3d4e5f60718/"
            "Sig9nature0Secret0Value1",
            'https://prod-01.westeurope.logic.azure.com:443 "POST /workflows/a1b2c3d4e5f60718/'
            "triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun"
            '&sv=1.0&sig=Sig9nature0Secret0Value1 HTTP/1.1" 500 0',
            ["Sig9nature0Secret0Value1", "a1b2c3d4e5f60718"],
            id="teams-workflows",
        ),
        pytest.param(
            f"json://hooks.example.org/hooks/{JSON_TOKEN}",
            f'http://hooks.example.org:80 "POST /hooks/{JSON_TOKEN} HTTP/1.1" 500 0',
            [JSON_TOKEN],
            id="json",
        ),
        pytest.param(
            f"xml://hooks.example.org/in/{XML_TOKEN}?key=k3y4bcdefgh",
            f'http://hooks.example.org:80 "POST /in/{XML_TOKEN}?key=k3y4bcdefgh HTTP/1.1" 500 0',
            [XML_TOKEN, "k3y4bcdefgh"],
            id="xml",
        ),
    ],
)
def test_a_token_in_a_request_line_is_masked_for_every_logger(url, request_line, secrets):
    register_secrets([url])
    for json_lines in (False, True):
        rec = logging.LogRecord(
            "urllib3.connectionpool", logging.DEBUG, __file__, 1, "%s", (request_line,), None
        )
        line = LogFormatter(json_lines).format(rec)
        for secret in secrets:
            assert secret not in line, (secret, line)
        assert "POST /" in line  # the rest of the line stays readable


def test_a_plain_path_of_a_generic_webhook_is_not_taken_for_a_token():
    assert secret_pieces("json://127.0.0.1:9/hook/v2") == []
    assert mask_url("json://127.0.0.1:9/hook/v2").startswith("json://127.0.0.1:9/hook/v2")
    assert JSON_TOKEN not in mask_url(f"json://127.0.0.1:9/hooks/{JSON_TOKEN}")


@pytest.mark.parametrize("command", ["test-alert", "poll"])
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_debug_logs_never_show_a_channel_token(
    make_config, receiver, feed_server, log_format, command
):
    """A real `regwatch --log-level debug test-alert` (or `poll` with a hit to alert)
    against local receivers answering 500: urllib3's request lines, apprise's warnings
    and the printed results carry no token."""
    receiver.status = 500
    host = f"127.0.0.1:{receiver.port}"
    feed_server.routes["/eu.xml"] = {
        "body": rss([{"title": "Microsoft news", "link": "https://news.example/1"}])
    }
    config = make_config(
        sources={"eu": feed_server.url("/eu.xml")},
        channels={
            "mm": f"mmost://{host}/{MM_TOKEN}",
            "js": f"json://{host}/hooks/{JSON_TOKEN}",
            "xml": f"xml://{host}/in/{XML_TOKEN}",
        },
        defaults='timeout = "5s"\nmin_interval = "1s"\nworkers = 0',
    )
    if command == "poll":
        text = config.read_text().replace(
            '[[sources]]\nname = "eu"', '[[sources]]\nname = "eu"\nalert_first_poll = true'
        )
        config.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "watcher", "--config", str(config), "--log-level", "debug"]
        + ["--log-format", log_format, command],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert len(receiver.received) >= 3, done.stderr  # each channel's request reached it
    assert "POST /hooks/" in done.stderr and "POST /in/" in done.stderr  # urllib3's lines
    for secret in (MM_TOKEN, JSON_TOKEN, XML_TOKEN):
        assert secret not in done.stderr, secret
        assert secret not in done.stdout, secret


def test_check_prints_a_generic_webhook_token_masked(make_config, run_cli):
    config = make_config(channels={"js": f"json://hooks.example.org/hooks/{JSON_TOKEN}"})
    result = run_cli(config, "check")
    assert result.exit_code == 0, result.output
    assert (
        JSON_TOKEN not in result.output and "json://hooks.example.org/hooks/A...z" in result.output
    )
