"""`regwatch demo`: bundled sample feeds on a local server, two polls, hits and an alert."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from watcher.alert.outbox import Dispatcher
from watcher.config import load_config
from watcher.daemon.cycle import run_cycle
from watcher.output import render
from watcher.pipeline.poll import poller_session
from watcher.store import Store

SAMPLES = Path(__file__).with_name("demo")


class _Server:
    """A loopback HTTP server: GET serves `routes`, POST bodies are collected in `posts`."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.posts: list[dict[str, object]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                body = server.routes.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.posts.append(json.loads(raw or b"{}"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run_demo(keep: Path | None, echo: Callable[[str], None]) -> None:
    """Run the demo in `keep` (or a temporary folder), printing each step."""
    folder = keep or Path(tempfile.mkdtemp(prefix="regwatch-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    server = _Server()
    base = f"http://127.0.0.1:{server.port}"
    server.routes["/commission.xml"] = (SAMPLES / "commission.xml").read_bytes()
    server.routes["/technews.xml"] = (SAMPLES / "technews.xml").read_bytes()
    config_path = folder / "regwatch.toml"
    config_path.write_text(
        f'''[storage]
path = "demo.db"

[[sources]]
name = "commission"
url = "{base}/commission.xml"

[[sources]]
name = "technews"
url = "{base}/technews.xml"

[[entities]]
name = "Microsoft"
aliases = ["Microsoft"]

[[entities]]
name = "Mistral AI"
aliases = ["Mistral AI"]

[[entities]]
name = "OpenAI"
aliases = ["OpenAI"]

[[channels]]
name = "demo-webhook"
url = "json://127.0.0.1:{server.port}/alerts"
''',
        encoding="utf-8",
    )
    config = load_config(config_path)
    store = Store(config.database)

    async def poll_once() -> None:
        dispatcher = Dispatcher(
            store, config.channels, config.delivery, base_url=config.web.base_url
        )
        async with poller_session(config, store) as poller:
            cycle = await run_cycle(config, store, poller, dispatcher)
        for r in cycle.polls:
            note = ""
            if r.hits:
                note = " (first poll: stored, not alerted)" if not r.alerted else " (alerted)"
            echo(f"  {r.source}: {r.new_items} new items, {len(r.hits)} hits{note}")

    try:
        echo(f"Demo folder: {folder}\nServing sample feeds on {base}\n")
        echo("1. First poll of two new sources (existing items are stored without alerting):")
        asyncio.run(poll_once())
        echo("\n2. The Commission publishes a new press release; second poll:")
        server.routes["/commission.xml"] = (SAMPLES / "commission-new.xml").read_bytes()
        asyncio.run(poll_once())
        echo(f"\n3. Alerts received by the local webhook ({len(server.posts)}):")
        for post in server.posts:
            echo(
                f"  --- {post.get('title')}\n  "
                + str(post.get("message", "")).replace("\n", "\n  ")
            )
        echo("\n4. `regwatch hits`:")
        rows = [hit.row() for hit in store.query_hits(limit=None)]
        echo(render(rows, "table", ["entity", "source", "matched", "title"]))
        if keep:
            echo(f"\nTry: regwatch --config {config_path} hits --format json")
    finally:
        server.stop()
        store.close()
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)
