"""HTTP fetching: one shared client, conditional GET, a total deadline and a size cap.

httpx's own timeouts are inactivity timeouts (a server dribbling one byte a second never
trips them), so every request also runs under a total deadline. The size cap counts
decoded bytes, so a gzip bomb is cut like any other oversized body.

Redirects are followed here, hop by hop, rather than by httpx: each hop takes the per-host
limit of its own host, a guard can refuse private addresses on every hop (full-text fetches
of untrusted feed links), and a chain of permanent redirects is reported as the new URL.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from watcher import USER_AGENT
from watcher.config.model import Defaults
from watcher.errors import FetchError
from watcher.model import Capture
from watcher.pipeline.addresses import IPAddress
from watcher.pipeline.hostpools import HostPools
from watcher.timeparse import now_iso, parse_retry_after

# A guard says why an address is refused, or None to allow it.
Guard = Callable[[IPAddress], str | None]

PERMANENT = (301, 308)


@dataclass
class Response:
    """What a fetch brought back; `not_modified` is a 304 to a conditional GET.

    `moved_to` is the URL a chain of permanent redirects (301/308) from the start led to.
    """

    url: str  # the final URL, after redirects
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    not_modified: bool = False
    moved_to: str | None = None
    # What evidence needs (see `capture`): the exchange as it happened.
    request_url: str = ""  # the URL asked for
    reason: str = ""
    http_version: str = "HTTP/1.1"
    raw_headers: tuple[tuple[str, str], ...] = ()  # as received: order and spelling kept
    request_headers: tuple[tuple[str, str], ...] = ()  # as sent, on the last hop
    fetched_at: str = ""  # ISO 8601 UTC, when the response headers arrived

    def capture(self, role: str) -> Capture:
        """This response as evidence (`role`: feed, page, api, document or article)."""
        return Capture(
            url=self.request_url or self.url,
            final_url=self.url,
            status=self.status,
            reason=self.reason,
            http_version=self.http_version,
            headers=self.raw_headers or tuple(self.headers.items()),
            body=self.body,
            fetched_at=self.fetched_at,
            request_headers=self.request_headers,
            role=role,
        )

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


def make_client(defaults: Defaults) -> httpx.AsyncClient:
    """The one client a daemon or a poll shares across all sources."""
    return httpx.AsyncClient(
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "application/rss+xml, application/atom+xml, "
            "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5",
        },
        follow_redirects=True,
        max_redirects=defaults.max_redirects,
        timeout=httpx.Timeout(defaults.timeout, connect=min(defaults.timeout, 10.0)),
        # Keep-alive connections, per_host of them in each host's own pool (hostpools.py).
        transport=HostPools(defaults.per_host),
        trust_env=False,
    )


class HostLimiter:
    """At most `per_host` requests at a time to one host, so many sources there are not hammered."""

    def __init__(self, per_host: int = 2) -> None:
        self.per_host = per_host
        self._slots: dict[str, asyncio.Semaphore] = {}

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        """Hold one of the host's slots for the duration of the block."""
        host = (urlsplit(url).hostname or "").lower()
        sem = self._slots.setdefault(host, asyncio.Semaphore(self.per_host))
        async with sem:
            yield


async def check_address(url: str, guard: Guard) -> None:
    """FetchError unless every address `url`'s host resolves to passes `guard`."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise FetchError(f"cannot resolve {host!r}: {exc}") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for ip in addresses:
        reason = guard(ip)
        if reason:
            raise FetchError(
                f"refused {url}: {host} is {reason} ({ip})",
                hint="set allow_private = true on the source if this address is meant",
            )


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 30.0,
    max_bytes: int = 10 * 1024 * 1024,
    max_redirects: int = 5,
    limiter: HostLimiter | None = None,
    guard: Guard | None = None,
) -> Response:
    """GET `url` (conditionally when validators are given); FetchError on any failure.

    `guard`, when given, is applied to the address of every hop before connecting.
    """
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with asyncio.timeout(timeout):
            return await _follow(client, url, headers, max_bytes, max_redirects, limiter, guard)
    except TimeoutError:
        raise FetchError(f"no complete response within {timeout:g}s") from None
    except httpx.ConnectError as exc:
        raise FetchError(f"cannot connect: {exc or type(exc).__name__}") from None
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out ({type(exc).__name__})") from None
    except httpx.DecodingError as exc:
        raise FetchError(f"cannot decode the response body: {exc}") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from None
    except (httpx.InvalidURL, ValueError) as exc:
        # Not an httpx.HTTPError: an unparsable link (a host like 0177.0.0.1, a bad port)
        # is a failure of this one URL like any other, never a crash of its source.
        raise FetchError(
            f"not a usable URL ({url[:200]}): {exc}",
            hint="the address is malformed; if it is a source's url, correct it in the config",
        ) from None


async def _follow(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    max_bytes: int,
    max_redirects: int,
    limiter: HostLimiter | None,
    guard: Guard | None,
) -> Response:
    request = client.build_request("GET", url, headers=headers)
    moved_to: str | None = None
    permanent = True  # still on a chain of permanent redirects from the start
    for _hop in range(max_redirects + 1):
        target = str(request.url)
        if request.url.scheme not in ("http", "https"):
            raise FetchError(f"redirect to a non-http(s) URL refused: {target[:200]}")
        if guard:
            await check_address(target, guard)
        async with limiter.slot(target) if limiter else _no_slot():
            resp = await client.send(request, stream=True, follow_redirects=False)
            try:
                if guard:
                    _check_peer(resp, target, guard)
                if resp.next_request is not None and resp.is_redirect:
                    permanent = permanent and resp.status_code in PERMANENT
                    if permanent:
                        moved_to = str(resp.next_request.url)
                    request = resp.next_request
                    continue
                response = await _read(resp, max_bytes, moved_to)
                response.request_url = url
                return response
            finally:
                await resp.aclose()
    raise FetchError(
        f"too many redirects (a loop, or a chain longer than {max_redirects})",
        hint="raise defaults.max_redirects if the chain is legitimate",
    )


@asynccontextmanager
async def _no_slot() -> AsyncIterator[None]:
    yield


def _check_peer(resp: httpx.Response, url: str, guard: Guard) -> None:
    """Refuse what the connection actually reached (DNS may have changed since the check)."""
    stream = resp.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if not peer:
        return
    try:
        ip = ipaddress.ip_address(str(peer[0]).split("%")[0])
    except ValueError:
        return
    reason = guard(ip)
    if reason:
        raise FetchError(f"refused {url}: it connected to {reason} ({ip})")


async def _read(resp: httpx.Response, max_bytes: int, moved_to: str | None) -> Response:
    received = _exchange(resp)
    if resp.status_code == 304:
        # A 304 has no body, but a response closed unread makes httpx drop its connection:
        # read the (empty) body so the connection goes back to the pool for the next request.
        await resp.aread()
        return Response(
            str(resp.url),
            304,
            headers=_headers(resp),
            not_modified=True,
            moved_to=moved_to,
            **received,
        )
    if resp.status_code >= 400:
        retry_after = None
        if resp.status_code in (429, 503):
            retry_after = parse_retry_after(resp.headers.get("retry-after"))
        hint = ""
        if resp.status_code == 410:
            hint = "the server says the feed is gone for good; find its new address"
        raise FetchError(
            f"HTTP {resp.status_code} {resp.reason_phrase}".strip(),
            status=resp.status_code,
            hint=hint,
            retry_after=retry_after,
        )
    chunks = []
    size = 0
    async for chunk in resp.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(
                f"response larger than {max_bytes:,} bytes (cut)",
                status=resp.status_code,
                hint="raise defaults.max_bytes if this source is legitimate",
            )
        chunks.append(chunk)
    return Response(
        str(resp.url),
        resp.status_code,
        b"".join(chunks),
        _headers(resp),
        moved_to=moved_to,
        **received,
    )


def _headers(resp: httpx.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in resp.headers.items()}


def _exchange(resp: httpx.Response) -> dict[str, Any]:
    """The response's status line and headers as received, the request's headers as sent."""

    def pairs(raw: list[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
        return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw)

    return {
        "reason": resp.reason_phrase,
        "http_version": resp.http_version,
        "raw_headers": pairs(resp.headers.raw),
        "request_headers": pairs(resp.request.headers.raw),
        "fetched_at": now_iso(),
    }
