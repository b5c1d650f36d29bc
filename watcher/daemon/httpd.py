"""The daemon's optional HTTP server: /healthz and /metrics, on the daemon's own loop.

Deliberately tiny (GET only, one request per connection, small header limit): it serves
a monitoring system, not browsers. Running on the event loop means a frozen loop cannot
answer at all, which a prober reads as unhealthy too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

Route = Callable[[], tuple[int, str, bytes]]  # -> (status, content type, body)
REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
MAX_HEADER = 8192
READ_TIMEOUT = 5.0


class HTTPServer:
    """Serves `routes` (path -> callable) on host:port until `close`."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; returns the bound address (port 0 picks a free one)."""
        self.server = await asyncio.start_server(self._handle, host, port)
        address = self.server.sockets[0].getsockname()
        return str(address[0]), int(address[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        request = head[:MAX_HEADER].split(b"\r\n", 1)[0].decode("latin-1").split()
        method, path = (request + ["", ""])[:2]
        path = path.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            status, ctype, body = 405, "text/plain", b"GET only\n"
        elif path in self.routes:
            try:
                status, ctype, body = self.routes[path]()
            except Exception:  # noqa: BLE001 - a broken route answers 503, never kills the daemon
                log.exception("HTTP %s failed", path)
                status, ctype, body = 503, "text/plain", b"internal error\n"
        else:
            status, ctype, body = 404, "text/plain", b"not found; try /healthz or /metrics\n"
        headers = (
            f"HTTP/1.1 {status} {REASONS.get(status, '')}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        try:
            writer.write(headers.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
