"""Hostile and broken servers: each records a clear error on its source, nothing else breaks.

Every case runs next to a well-behaved source, which must still be stored; the last test
runs all of them at once under the daemon, which must stay up.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FeedServer, poll_once, rss, source_toml, stored_rows

from watcher.config import load_config
from watcher.daemon.scheduler import Daemon
from watcher.store import Store

GOOD = rss([{"title": "Microsoft and Mistral AI", "link": "https://example.org/good"}])
SECRET = "TOP-SECRET-7f3a9c"  # written to a local file that hostile feeds try to read
MAX_BYTES = 1024 * 1024


class Silent:
    """Accepts connections and never answers (nor closes them)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def stop(self) -> None:
        self.stopped.set()
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.stop()


@pytest.fixture
def stop_dribble() -> Iterator[threading.Event]:
    stop = threading.Event()
    yield stop
    stop.set()


def headers_only(handler: Any, length: int, extra: dict[str, str] | None = None) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Content-Length", str(length))
    for k, v in (extra or {}).items():
        handler.send_header(k, v)
    handler.end_headers()


def huge(handler: Any) -> None:
    """50 MB of feed-looking bytes, streamed."""
    size = 50 * 1024 * 1024
    headers_only(handler, size)
    chunk = b"<item>" + b"x" * 65530
    try:
        for _ in range(size // len(chunk)):
            handler.wfile.write(chunk)
    except OSError:
        pass  # the client cut it, as it should


@functools.cache
def gzip_bomb() -> bytes:
    """About 50 KB that inflate to 50 MB (made once, before a poll: making it takes half a
    second of CPU, which on a loaded machine ate the poll's 2 s deadline)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    block = b"\0" * (1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(50)) + packer.flush()


def bomb(handler: Any) -> None:
    body = gzip_bomb()
    headers_only(handler, len(body), {"Content-Encoding": "gzip"})
    handler.wfile.write(body)


def dribbler(stop: threading.Event) -> Callable[[Any], None]:
    def dribble(handler: Any) -> None:
        """One byte every two seconds, never done."""
        headers_only(handler, 10_000)
        try:
            for byte in GOOD.encode()[:60]:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                if stop.wait(2.0):
                    return
        except OSError:
            pass

    return dribble


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>lol</title><item><title>Microsoft &lol9;</title>
<link>https://example.org/lol</link><description>&lol9;</description></item></channel></rss>"""


def xxe(secret: Path) -> str:
    return f"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>
<rss version="2.0"><channel><title>x</title><item><title>Microsoft &xxe;</title>
<link>https://example.org/xxe</link><description>&xxe;</description></item></channel></rss>"""


CP1252 = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
    "<item><title>Société Générale and Microsoft’s deal</title>"
    "<link>https://example.org/cp</link><description>Ça va — “quotes”</description>"
    "</item></channel></rss>"
).encode("cp1252")

HTML = b"<!DOCTYPE html><html><head><title>Feed moved</title></head><body>Microsoft</body></html>"


# name -> (route(s), error substring or None when the items must be read correctly)
def cases(secret: Path, stop: threading.Event, silent_url: str) -> dict[str, Any]:
    gzip_bomb()
    return {
        "50 MB body": ({"/h": {"handler": huge}}, "larger than 1,048,576 bytes"),
        "gzip bomb": ({"/h": {"handler": bomb}}, "larger than 1,048,576 bytes"),
        "1 byte every 2 s": ({"/h": {"handler": dribbler(stop)}}, "no complete response within"),
        "accepts, never answers": (silent_url, ("no complete response within", "timed out")),
        "redirect loop": (
            {
                "/h": {"status": 302, "headers": {"Location": "/h2"}},
                "/h2": {"status": 302, "headers": {"Location": "/h"}},
            },
            "too many redirects",
        ),
        "redirect chain past the limit": (
            {
                "/h" if i == 0 else f"/c{i}": {"status": 307, "headers": {"Location": f"/c{i + 1}"}}
                for i in range(8)
            },
            "too many redirects",
        ),
        "billion laughs": ({"/h": {"body": BILLION_LAUGHS}}, "declares XML entities"),
        "XXE on a local file": ({"/h": {"body": xxe(secret)}}, "declares XML entities"),
        "body is a local path": ({"/h": {"body": str(secret)}}, "not an RSS or Atom feed"),
        "body is a file:// URL": ({"/h": {"body": f"file://{secret}"}}, "not an RSS or Atom feed"),
        "HTML instead of a feed": (
            {"/h": {"body": HTML, "ctype": "text/html"}},
            "HTML page, not an RSS or Atom feed",
        ),
        "Windows-1252 labelled UTF-8": (
            {"/h": {"body": CP1252, "ctype": "application/rss+xml; charset=utf-8"}},
            None,
        ),
        "Windows-1252 without charset": (
            {"/h": {"body": CP1252.replace(b' encoding="utf-8"', b""), "ctype": "text/xml"}},
            None,
        ),
    }


CASES = list(cases(Path("x"), threading.Event(), "").keys())
SLOW = {"1 byte every 2 s", "accepts, never answers"}
# Cases that must end on the size cap, not the deadline: a deadline far from it, so that a
# busy machine (decompressing the bomb takes a while there) does not end them on it.
LARGE = {"50 MB body", "gzip bomb"}


def setup_case(name, feed_server, secret, stop, silent):
    route, expected = cases(secret, stop, f"http://127.0.0.1:{silent.port}/h")[name]
    if isinstance(route, str):
        return route, expected
    for path, spec in route.items():
        feed_server.routes[path] = spec
    return feed_server.url("/h"), expected


def write_config(make_config, urls: dict[str, str], timeout: str) -> Path:
    extra = "".join(source_toml(n, u) for n, u in urls.items())
    return make_config(
        defaults=f'timeout = "{timeout}"\nmax_bytes = {MAX_BYTES}\nmin_interval = "1s"',
        extra=extra,
    )


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET, encoding="utf-8")
    return path


def assert_secret_nowhere(config: Path) -> None:
    db = load_config(config).storage_path
    for path in db.parent.glob(db.name + "*"):  # the database and its WAL
        assert SECRET.encode() not in path.read_bytes()


@pytest.mark.parametrize("case", CASES)
def test_hostile_source_records_a_clear_error_and_others_are_unaffected(
    case, feed_server, make_config, run_cli, secret, stop_dribble, silent
):
    url, expected = setup_case(case, feed_server, secret, stop_dribble, silent)
    feed_server.routes["/good.xml"] = {"body": GOOD}
    config = write_config(
        make_config,
        {"hostile": url, "good": feed_server.url("/good.xml")},
        timeout="3s" if case in SLOW else "15s" if case in LARGE else "2s",
    )

    results = poll_once(config)

    assert results["good"].status == "ok" and results["good"].new_items == 1
    hostile = results["hostile"]
    assert not hostile.crashed
    if expected is None:  # a wrong charset is recovered from, not an error
        assert hostile.status == "ok", hostile.error
        (item,) = stored_rows(config, "items", "hostile")
        assert item["title"] == "Société Générale and Microsoft’s deal"
        assert item["text"] == "Ça va — “quotes”"
    else:
        wanted = expected if isinstance(expected, tuple) else (expected,)
        assert hostile.status == "error" and any(w in hostile.error for w in wanted), hostile.error
        listed = run_cli(config, "sources", "--format", "csv").output
        assert any(w in listed for w in wanted)
        assert stored_rows(config, "items", "hostile") == []
    assert_secret_nowhere(config)


def test_daemon_stays_up_with_every_hostile_source_at_once(
    make_config, secret, stop_dribble, silent
):
    servers = []
    urls = {}
    for i, case in enumerate(CASES):
        server = FeedServer()  # a server each: every case serves its own /h
        servers.append(server)
        urls[f"hostile-{i}"], _ = setup_case(case, server, secret, stop_dribble, silent)
    good = FeedServer()
    servers.append(good)
    good.routes["/good.xml"] = {"body": GOOD}
    urls["good"] = good.url("/good.xml")
    config_path = write_config(make_config, urls, timeout="3s")
    config = load_config(config_path)
    store = Store(config.database)

    async def scenario() -> Daemon:
        daemon = Daemon(config, store)
        running = asyncio.create_task(daemon.run())
        deadline = asyncio.get_running_loop().time() + 20
        while sum(1 for r in store.source_report() if r["last_poll_at"]) < len(urls):  # all polled
            assert not running.done(), "the daemon stopped"
            assert asyncio.get_running_loop().time() < deadline, "not every source was polled"
            await asyncio.sleep(0.05)
        assert not running.done()
        daemon.stopping.set()
        await asyncio.wait_for(running, 10)
        return daemon

    try:
        asyncio.run(scenario())
        report = {r["name"]: r for r in store.source_report()}
        assert report["good"]["last_status"] == "ok" and report["good"]["items"] == 1
        errors = [r for n, r in report.items() if r["last_status"] == "error"]
        assert len(errors) == len(CASES) - 2  # the two charset cases are read fine
        assert all(r["last_error"] and "internal error" not in r["last_error"] for r in errors)
    finally:
        store.close()
        for server in servers:
            server.stop()
    assert_secret_nowhere(config_path)


def test_entities_in_a_page_read_as_html_are_never_expanded(feed_server, make_config, secret):
    # An html source parses with lxml's HTML parser: DTD entities stay text, files stay closed.
    feed_server.routes["/page"] = {"body": xxe(secret), "ctype": "text/html"}
    selectors = {"item": "item", "title": "title", "summary": "description"}
    config = make_config(
        extra=source_toml("page", feed_server.url("/page"), kind="html", selectors=selectors)
    )
    result = poll_once(config)["page"]
    assert result.status == "ok" and result.new_items == 1
    (item,) = stored_rows(config, "items", "page")
    assert item["title"] == "Microsoft &xxe;"
    assert_secret_nowhere(config)
