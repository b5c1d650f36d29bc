"""Real local servers for the tests: a feed farm, an SMTP server, a webhook receiver and a
PostgreSQL server (pgserver.py, one per session, a fresh database per test).

Everything listens on 127.0.0.1 only. Nothing here sleeps to synchronise: use
`wait_until(condition)`, which polls a condition against a deadline.

A test (or a module, with `pytestmark = pytest.mark.usefixtures("backend")`) that uses the
`backend` fixture runs twice, on SQLite and on PostgreSQL: `make_config` and `database`
then point at that backend's store.
"""

from __future__ import annotations

import email
import hashlib
import itertools
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from click.testing import CliRunner
from pgserver import PostgresServer

from watcher.cli import cli

# Tables are as wide as the terminal: give every test, in every xdist worker, the same one.
os.environ["COLUMNS"] = "120"
# Alert dates and digest schedules without a `timezone` use the machine's zone: the same
# one for every test, whatever the zone of the machine running the suite.
os.environ["TZ"] = "UTC"


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Return the first truthy value of `condition()`, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss(items: list[dict[str, str]], title: str = "Test feed") -> str:
    """An RSS 2.0 document; each item has title, link and optional guid, date, html."""
    parts = [
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://example.org/</link>"
        "<description>test</description>"
    ]
    for it in items:
        parts.append(
            "<item>"
            f"<title>{escape(it['title'])}</title>"
            f"<link>{escape(it['link'])}</link>"
            f"<guid>{escape(it.get('guid', it['link']))}</guid>"
            f"<pubDate>{it.get('date', 'Mon, 26 Feb 2024 10:00:00 +0000')}</pubDate>"
            f"<description>{escape(it.get('html', ''))}</description>"
            "</item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts)


class FeedServer:
    """HTTP server with a mutable route table; honours ETag/If-None-Match; logs requests
    and counts the TCP connections it accepted (`connections`).

    A route is a dict: body (str|bytes), status, ctype, headers, etag (bool, default True),
    last_modified (str), handler (callable(request_handler) taking over the response).
    """

    def __init__(self) -> None:
        self.routes: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        farm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with farm.lock:
                    route = farm.routes.get(self.path)
                    farm.requests.append(
                        {"path": self.path, **{k.lower(): v for k, v in self.headers.items()}}
                    )
                if route is None:
                    self._reply(404, b"not found", "text/plain")
                    return
                if "handler" in route:
                    route["handler"](self)
                    return
                body = route.get("body", b"")
                body = body.encode() if isinstance(body, str) else body
                status = route.get("status", 200)
                headers = dict(route.get("headers", {}))
                if status == 200 and route.get("etag", True):
                    etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                    headers["ETag"] = etag
                    if self.headers.get("If-None-Match") == etag:
                        self._reply(304, b"", None, headers)
                        return
                if status == 200 and route.get("last_modified"):
                    headers["Last-Modified"] = route["last_modified"]
                    if self.headers.get("If-Modified-Since") == route["last_modified"]:
                        self._reply(304, b"", None, headers)
                        return
                ctype = route.get("ctype", "application/rss+xml; charset=utf-8")
                self._reply(status, body, ctype, headers)

            def _reply(
                self,
                status: int,
                body: bytes,
                ctype: str | None,
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            def verify_request(self, request: Any, client_address: Any) -> bool:
                with farm.lock:
                    farm.connections += 1  # once per TCP connection accepted
                return True

        self.connections = 0
        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        # A short poll interval: shutdown() waits for it, at every test's teardown.
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits_on(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class SmtpServer:
    """A real SMTP server (aiosmtpd) collecting messages."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.messages.append(
                    email.message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[arg-type]
                )
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def url(self, to: str = "legal@example.com") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=regwatch@example.com&to={to}"

    def bodies(self) -> list[str]:
        out = []
        for m in self.messages:
            part = m.get_body(preferencelist=("plain", "html"))
            out.append((m["Subject"] or "") + "\n" + (part.get_content() if part else ""))
        return out

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


ENTITIES = """
[[entities]]
name = "Microsoft"
aliases = ["Microsoft"]

[[entities]]
name = "Mistral AI"
aliases = ["Mistral AI"]

[[entities]]
name = "OpenAI"
aliases = ["OpenAI"]
"""


# -- the store: SQLite, or PostgreSQL on a throwaway server (issue 12) ---------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (skipped, with the reason, without one)."""
    reason = PostgresServer.missing()
    if reason:
        pytest.skip(reason)
    server = PostgresServer()
    yield server
    server.close()


_databases = itertools.count()


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test (empty for a test marked
    empty_database); its URL."""
    name = f"test_{os.getpid()}_{next(_databases)}"
    migrated = request.node.get_closest_marker("empty_database") is None
    url = postgres_server.create_database(name, migrated)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test on each store: SQLite, then PostgreSQL."""
    return str(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked one_store (in a module run on both backends) runs on SQLite only."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("backend") == "postgresql"
        (drop if on_postgres and item.get_closest_marker("one_store") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def old_database(location: str | Path, skip: Callable[[str], bool]) -> None:
    """A database as an older regwatch left it: the migrations `skip` does not name."""
    from watcher.store.base import open_engine
    from watcher.store.engine import Schema
    from watcher.store.migrations import MIGRATIONS

    engine = open_engine(location)
    schema = Schema(engine)
    schema.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, step in MIGRATIONS:
        if not skip(name):
            with engine.transaction():
                step(schema)
                engine.execute("INSERT INTO _migrations VALUES (?, '2024-01-01')", [name])
    engine.close()


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """This test's store: tmp_path/regwatch.db, or on the backend postgresql a fresh
    PostgreSQL database (its URL). Open it with Store(database)."""
    if "backend" in request.fixturenames and request.getfixturevalue("backend") == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return str(tmp_path / "regwatch.db")


def database_of(config_path: Path) -> str:
    """The store a config file names: its SQLite path, or its PostgreSQL URL."""
    from watcher.config import load_config

    return load_config(config_path).database


def storage_toml(database: str) -> str:
    """The [storage] table naming a store (a SQLite path in the config's folder, or a URL)."""
    if database.startswith("postgresql://"):
        return f'[storage]\nurl = "{database}"\n'
    return f'[storage]\npath = "{Path(database).name}"\n'


@pytest.fixture
def make_config(tmp_path: Path, database: str) -> Callable[..., Path]:
    """Write a config: sources as {name: url}, channels as {name: url}; extra TOML appended.

    Polls parse in the test's process (`workers = 0`): starting worker processes for every
    poll doubled the suite's CPU. tests/test_workers.py shows that worker processes store
    exactly what one process stores, and tests passing their own `defaults` use them.
    """

    def make(
        sources: dict[str, str] | None = None,
        channels: dict[str, str] | None = None,
        extra: str = "",
        entities: str = ENTITIES,
        defaults: str = 'timeout = "5s"\nmin_interval = "1s"\nworkers = 0',
    ) -> Path:
        lines = [storage_toml(database), f"[defaults]\n{defaults}\n"]
        for name, url in (sources or {}).items():
            lines.append(f'[[sources]]\nname = "{name}"\nurl = "{url}"\n')
        lines.append(entities)
        for name, url in (channels or {}).items():
            lines.append(f'[[channels]]\nname = "{name}"\nurl = "{url}"\n')
        lines.append(extra)
        path = tmp_path / "regwatch.toml"
        path.write_text("\n".join(lines), encoding="utf-8")
        return path

    return make


@pytest.fixture
def run_cli() -> Callable[..., Any]:
    """Invoke the CLI in-process: run_cli(config_path, "hits", "--format", "json")."""

    def run(config: Path, *args: str, input: str | None = None) -> Any:
        result = CliRunner().invoke(
            cli, ["--config", str(config), *args], input=input, catch_exceptions=False
        )
        return result

    return run


# -- a database of known hits in five languages (search, output formats, stats, web view) --------

HIT_ITEMS = [
    # (source, key, title, text, published, [(entity, matched, topics)])
    (
        "ec",
        "ec1",
        "Commission opens in-depth investigation into Microsoft's investment in Mistral AI",
        "The Commission will assess the deal under the EU merger control rules.",
        "2024-02-27T12:00:00+00:00",
        [("Microsoft", "Microsoft", ["merger"]), ("Mistral AI", "Mistral AI", ["merger"])],
    ),
    (
        "lemonde",
        "fr1",
        "La Société Générale salue l'enquête de la Commission européenne sur OpenAI",
        "Une enquête approfondie sur OpenAI a été ouverte par Bruxelles.",
        "2024-02-20T08:30:00+00:00",
        [("OpenAI", "OpenAI", ["antitrust"])],
    ),
    (
        "spiegel",
        "de1",
        "Die Kommission prüft die Beteiligung von Microsoft",
        "Die Kommission's Entscheidung wird im Sommer erwartet. Microsoft äußert sich nicht.",
        "2024-02-12T09:00:00+00:00",
        [("Microsoft", "Microsoft", [])],
    ),
    (
        "elpais",
        "es1",
        "La Comisión investiga a Mistral AI por la competencia",
        "La investigación de la Comisión sobre Mistral AI continúa.",
        "2024-01-16T10:00:00+00:00",
        [("Mistral AI", "Mistral AI", ["antitrust"])],
    ),
    (
        "corriere",
        "it1",
        "Agricoltura: la Commissione approva il piano",
        "Nessuna società tecnologica è citata.",
        "2024-02-26T07:00:00+00:00",
        [],
    ),
    (
        "ec",
        "ec2",
        "Agriculture council conclusions",
        "Merger of two farming cooperatives; control of subsidies.",
        "2024-02-21T07:00:00+00:00",
        [],
    ),
]


def fill_hit_db(database: str | Path) -> None:
    """Store HIT_ITEMS in a regwatch database (a path or URL) the way a poll does."""
    from watcher.model import Item, Mention, SourceState
    from watcher.store import Store

    store = Store(database)
    for source in dict.fromkeys(s for s, *_ in HIT_ITEMS):
        items = {
            k: Item(key=k, title=t, link=f"https://{s}.example.org/{k}", published=p, text=x)
            for s, k, t, x, p, _ in HIT_ITEMS
            if s == source
        }
        found = []
        for s, k, t, x, _p, mentions in HIT_ITEMS:
            for entity, matched, topics in mentions if s == source else []:
                field, content = ("title", t) if matched in t else ("text", x)
                start = content.index(matched)
                end = start + len(matched)
                mention = Mention(entity, matched, field, start, end, content, tuple(topics))
                found.append((items[k], mention))
        store.save_poll(
            SourceState(source, f"https://{source}.example.org/feed"),
            list(items.values()),
            found,
            lambda mention: ["legal-team"],
            alert=True,
            http_status=200,
        )
    store.close()


@pytest.fixture
def hit_config(make_config: Callable[..., Path], database: str) -> Path:
    """A config whose database holds HIT_ITEMS (six items, five hits, five languages)."""
    config = make_config()
    fill_hit_db(database)
    return config


def poll_once(config_path: Path, force: bool = False) -> dict[str, Any]:
    """Poll every source of a config once, in-process; returns {source name: PollResult}."""
    import asyncio

    from watcher.config import load_config
    from watcher.pipeline.poll import poller_session
    from watcher.store import Store

    config = load_config(config_path)
    store = Store(config.database)

    async def go() -> list[Any]:
        async with poller_session(config, store) as poller:
            return await poller.poll_all(force=force)

    try:
        return {r.source: r for r in asyncio.run(go())}
    finally:
        store.close()


def stored_rows(config_path: Path, table: str, source: str | None = None) -> list[dict[str, Any]]:
    """Rows of `items` (by source) or `sources` (by name) in the config's database."""
    from watcher.config import load_config
    from watcher.store import Store

    store = Store(load_config(config_path).database, readonly=True)
    column = "source" if table == "items" else "name"
    where, args = (f" WHERE {column} = ?", [source]) if source else ("", [])
    order = "id" if table == "items" else "name"
    try:
        return store.engine.query(f"SELECT * FROM {table}{where} ORDER BY {order}", args)
    finally:
        store.close()


def source_toml(name: str, url: str, **keys: Any) -> str:
    """A [[sources]] table; dict values become sub-tables ([sources.selectors])."""
    lines = [f'[[sources]]\nname = "{name}"\nurl = "{url}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items() if not isinstance(v, dict)]
    for key, value in keys.items():
        if isinstance(value, dict):
            lines.append(f"[sources.{key}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"


# -- alert delivery (issue 6) ----------------------------------------------------------------


class Receiver:
    """An HTTP receiver for apprise json:// and mmost:// posts, with knobs for failure tests.

    `status` is the answer; `hold` (an Event, set = let through) makes a request wait before
    answering, so a test can act while a send is in flight; with `gate` set, only requests
    for which gate(number received so far) is true wait. Every body that arrived is in
    `received` (even if answered 500 or never answered); `posts` only the ones answered 2xx.
    """

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        self.headers: dict[str, str] = {}  # extra headers of every answer (e.g. Retry-After)
        self.hold = threading.Event()
        self.hold.set()
        self.gate: Callable[[int], bool] | None = None
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"raw": raw.decode(errors="replace")}
                body["_path"] = self.path
                with hook.lock:
                    hook.received.append(body)
                    count = len(hook.received)
                if hook.gate is None or hook.gate(count):
                    hook.hold.wait(30)
                status = hook.status
                if status < 300:
                    with hook.lock:
                        hook.posts.append(body)
                try:
                    self.send_response(status)
                    for name, value in hook.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender was killed meanwhile
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        # A short poll interval: shutdown() waits for it, at every test's teardown.
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def json_url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    url = json_url  # the apprise URL most tests want

    def text(self) -> str:
        """Every answered post, as JSON text (to look for a link or a title in any of them)."""
        with self.lock:
            return json.dumps(self.posts, ensure_ascii=False)

    @property
    def mmost_url(self) -> str:
        return f"mmost://127.0.0.1:{self.port}/tok3n"

    def texts(self) -> list[str]:
        """Each answered post as one string (title and message, or Mattermost's text)."""
        with self.lock:
            return [
                "\n".join(str(p.get(k, "")) for k in ("title", "message", "text"))
                for p in self.posts
            ]

    def stop(self) -> None:
        self.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.stop()


@pytest.fixture
def receiver2() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.stop()


@pytest.fixture(autouse=True)
def no_apprise_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    """apprise waits ~5.5 s between two sends of one plugin instance; not in tests."""
    from apprise.plugins.base import NotifyBase

    monkeypatch.setattr(NotifyBase, "request_rate_per_sec", 0)


# -- the daemon as a real process (issue 4: service tests) -------------------------------------


class NotifyListener:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET; collects every message."""

    def __init__(self) -> None:
        import tempfile

        # AF_UNIX paths are limited to 108 bytes: pytest's tmp_path can be longer.
        self.folder = Path(tempfile.mkdtemp(prefix="rw-notify-"))
        self.path = str(self.folder / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._receive, daemon=True).start()

    def _receive(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            with self._lock:
                self.messages.append(data.decode())

    def lines(self) -> list[str]:
        """Every KEY=VALUE line received, in order."""
        with self._lock:
            return [line for m in self.messages for line in m.split("\n")]

    def wait_for(self, line: str, after: int = 0, timeout: float = 15.0) -> int:
        """Index (in `lines()`) of the first `line` at or after `after`; fails on timeout."""

        def find() -> int | None:
            got = self.lines()
            for i in range(after, len(got)):
                if got[i] == line or (line.endswith("=") and got[i].startswith(line)):
                    return i + 1  # +1 so that index 0 is truthy; undone below
            return None

        return int(wait_until(find, timeout, f"{line!r} on the notify socket")) - 1

    def close(self) -> None:
        import shutil

        self.sock.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class DaemonProcess:
    """`python -m watcher --config X run` as a subprocess, its stderr collected."""

    def __init__(
        self,
        config: Path,
        notify: NotifyListener,
        args: tuple[str, ...],
        env: dict[str, str],
        wrapper: list[str] | None = None,
    ) -> None:
        import os
        import subprocess
        import sys

        full_env = {**os.environ, "NOTIFY_SOCKET": notify.path, **env}
        full_env.pop("WATCHDOG_PID", None)
        self.notify = notify
        self.proc = subprocess.Popen(
            [*(wrapper or []), sys.executable, "-m", "watcher", "--config", str(config), *args],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def log(self) -> str:
        return "".join(self.stderr)

    def wait_log(self, text: str, timeout: float = 15.0) -> None:
        wait_until(lambda: text in self.log(), timeout, f"{text!r} in the daemon's log")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 20.0) -> int:
        """The exit status once the process ended."""
        return int(self.proc.wait(timeout))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def start_daemon() -> Iterator[Callable[..., DaemonProcess]]:
    """start_daemon(config, "--log-format", "json", run_args=("--stop-grace", "1s"), env={},
    wrapper=["strace", "-f"])."""
    started: list[tuple[DaemonProcess, NotifyListener]] = []

    def start(
        config: Path,
        *global_args: str,
        run_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        wrapper: list[str] | None = None,
    ) -> DaemonProcess:
        notify = NotifyListener()
        daemon = DaemonProcess(config, notify, (*global_args, "run", *run_args), env or {}, wrapper)
        started.append((daemon, notify))
        return daemon

    yield start
    for daemon, notify in started:
        daemon.stop()
        notify.close()


# -- a headless Chromium (the web view and how an HTML alert looks) ----------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """A headless Chromium under Selenium, with a fresh profile."""
    for path, package in ((CHROMIUM, "chromium"), (DRIVER, "chromium-driver")):
        if not os.path.exists(path):
            pytest.skip(f"{path} not found: apt-get install -y {package} (browser test needs it)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
