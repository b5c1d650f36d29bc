"""Sending through apprise: what a failure says, and that TLS to a mail server is verified."""

from __future__ import annotations

import email
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port

from watcher.alert.send import send
from watcher.config import load_config
from watcher.config.model import Channel
from watcher.model import Message
from watcher.store import Store
from watcher.timeparse import RETRY_AFTER_MAX, parse_retry_after

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "header, seconds",
    [
        ("120", 120.0),
        (" 30 ", 30.0),
        ("Fri, 01 Mar 2024 13:00:00 GMT", 3600.0),
        ("Fri, 01 Mar 2024 11:00:00 GMT", 0.0),  # in the past: now
        ("86401", RETRY_AFTER_MAX),
        ("Sat, 01 Mar 2025 12:00:00 GMT", RETRY_AFTER_MAX),
        ("-5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
    ids=[
        "seconds",
        "spaces",
        "date",
        "past",
        "cap",
        "far-date",
        "negative",
        "word",
        "empty",
        "none",
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date(header: str | None, seconds: float | None):
    assert parse_retry_after(header, NOW) == seconds


def self_signed(folder: Path) -> ssl.SSLContext:
    """A server's TLS context with a fresh self-signed certificate for 127.0.0.1."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class StartTlsServer:
    """A real SMTP server (aiosmtpd) offering STARTTLS with a self-signed certificate, and
    taking mail in clear too: a client that downgraded would be seen delivering."""

    def __init__(self, folder: Path) -> None:
        from aiosmtpd.controller import Controller

        context = self_signed(folder)
        self.messages: list[Any] = []
        self.sessions: list[bool] = []  # per message: was the session encrypted
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.sessions.append(session.ssl is not None)
                sink.messages.append(
                    email.message_from_bytes(envelope.content, policy=policy.default)
                )
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=False,
        )
        self.controller.start()

    def url(self) -> str:
        return (
            f"mailtos://127.0.0.1:{self.port}?mode=starttls&from=regwatch@example.com"
            "&to=legal@example.com"
        )

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def starttls_server(tmp_path: Path) -> Iterator[StartTlsServer]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate to test with")
    server = StartTlsServer(tmp_path)
    yield server
    server.stop()


def test_starttls_with_a_self_signed_certificate_fails_and_never_sends_in_clear(
    feed_server, starttls_server, make_config, run_cli
):
    feed_server.routes["/eu.xml"] = {
        "body": (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
            "<title>Microsoft fined</title><link>https://ec.example.eu/1</link><guid>1</guid>"
            "</item></channel></rss>"
        )
    }
    config = make_config(
        extra=f'[[sources]]\nname = "eu"\nurl = "{feed_server.url("/eu.xml")}"\n'
        "alert_first_poll = true\n"
        f'[[channels]]\nname = "mail"\nurl = "{starttls_server.url()}"\n'
    )
    result = run_cli(config, "poll")
    assert starttls_server.messages == []  # not delivered, in clear or otherwise
    store = Store(load_config(config).database, readonly=True)
    try:
        (row,) = store.list_deliveries()
    finally:
        store.close()
    assert row["status"] == "failed" and row["next_attempt"]
    assert "TLS certificate was not accepted (self-signed certificate)" in row["error"]
    assert result.exit_code != 0 or "failed" in result.output


def test_https_webhook_with_a_self_signed_certificate_fails_with_a_readable_error(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate to test with")
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = self_signed(tmp_path).wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        url = f"jsons://127.0.0.1:{httpd.server_address[1]}/hook/s3cr3t-token"
        error = send(Channel("hook", url), Message("t", "b", "text"), timeout=10)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert received == []
    assert error is not None
    assert "TLS certificate was not accepted (self-signed certificate)" in error
    assert "s3cr3t-token" not in error
