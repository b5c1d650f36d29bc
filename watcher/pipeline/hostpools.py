"""The HTTP client's transport: one keep-alive connection pool per host.

httpx's pool (httpcore) looks at every connection it holds each time a request starts or
ends: whether it is idle (counting the idle ones once per idle connection) and whether it
expired (a poll() of its socket). Keeping connections to 30 hosts in one pool made that
quadratic, a millisecond of CPU per request; a pool per host holds at most `per_host`
connections, the most the per-host limit lets a poll use there.

Pools nobody used for `IDLE_POOL` seconds are closed (a daemon polling a host every hour
does not keep its sockets open in between). TLS certificates are loaded with the first
https request: a poll of http sources never needs them.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

IDLE_POOL = 30.0  # seconds without a request after which a host's pool is closed


class HostPools(httpx.AsyncBaseTransport):
    """An httpx transport dispatching each request to its host's own connection pool."""

    def __init__(self, per_host: int, keepalive_expiry: float = 5.0) -> None:
        self.limits = httpx.Limits(
            max_connections=per_host,
            max_keepalive_connections=per_host,
            keepalive_expiry=keepalive_expiry,
        )
        self._pools: dict[tuple[str, str, int | None], httpx.AsyncHTTPTransport] = {}
        self._used: dict[tuple[str, str, int | None], float] = {}
        self._busy: dict[tuple[str, str, int | None], int] = {}
        self._swept = time.monotonic()
        self._tls: ssl.SSLContext | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = (request.url.scheme, request.url.host, request.url.port)
        now = time.monotonic()
        if now - self._swept > IDLE_POOL:
            await self._sweep(now)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = httpx.AsyncHTTPTransport(
                verify=self._tls_context() if request.url.scheme == "https" else False,
                limits=self.limits,
                trust_env=False,
            )
        self._used[key] = now
        self._busy[key] = self._busy.get(key, 0) + 1
        try:
            response = await pool.handle_async_request(request)
        except BaseException:
            self._done(key)
            raise
        # The pool is busy until the body is read and closed, not just until the headers.
        response.stream = _Tracked(response.stream, lambda: self._done(key))
        return response

    def _done(self, key: tuple[str, str, int | None]) -> None:
        self._busy[key] = self._busy.get(key, 1) - 1
        self._used[key] = time.monotonic()

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = httpx.create_ssl_context(trust_env=False)
        return self._tls

    async def _sweep(self, now: float) -> None:
        """Close the pools of hosts not asked anything for IDLE_POOL seconds."""
        self._swept = now
        for key, used in list(self._used.items()):
            if now - used > IDLE_POOL and not self._busy.get(key):
                pool = self._pools.pop(key)
                del self._used[key]
                self._busy.pop(key, None)
                await pool.aclose()

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        self._used.clear()
        self._busy.clear()
        for pool in pools:
            await pool.aclose()


class _Tracked(httpx.AsyncByteStream):
    """A response body that says when it is closed."""

    def __init__(self, stream: Any, closed: Callable[[], None]) -> None:
        self._stream = stream
        self._closed: Callable[[], None] | None = closed

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            closed, self._closed = self._closed, None
            if closed is not None:
                closed()
