"""HTTP fetching: one shared client, conditional GET, a total deadline and a size cap.

httpx's own timeouts are inactivity timeouts (a server dribbling one byte a second never
trips them), so every request also runs under a total deadline. The size cap counts
decoded bytes, so a gzip bomb is cut like any other oversized body.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx

from watcher import USER_AGENT
from watcher.config import Defaults
from watcher.errors import FetchError


@dataclass
class Response:
    """What a fetch brought back; `not_modified` is a 304 to a conditional GET."""

    url: str
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    not_modified: bool = False

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
        limits=httpx.Limits(
            max_connections=defaults.concurrency * 2, max_keepalive_connections=defaults.concurrency
        ),
        trust_env=False,
    )


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 30.0,
    max_bytes: int = 10 * 1024 * 1024,
) -> Response:
    """GET `url` (conditionally when validators are given); FetchError on any failure."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with asyncio.timeout(timeout):
            async with client.stream("GET", url, headers=headers) as resp:
                if resp.status_code == 304:
                    return Response(str(resp.url), 304, headers=_headers(resp), not_modified=True)
                if resp.status_code >= 400:
                    raise FetchError(
                        f"HTTP {resp.status_code} {resp.reason_phrase}".strip(),
                        status=resp.status_code,
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
                return Response(str(resp.url), resp.status_code, b"".join(chunks), _headers(resp))
    except TimeoutError:
        raise FetchError(f"no complete response within {timeout:g}s") from None
    except httpx.TooManyRedirects:
        raise FetchError("too many redirects (a loop, or a chain longer than the limit)") from None
    except httpx.ConnectError as exc:
        raise FetchError(f"cannot connect: {exc or type(exc).__name__}") from None
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out ({type(exc).__name__})") from None
    except httpx.DecodingError as exc:
        raise FetchError(f"cannot decode the response body: {exc}") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from None


def _headers(resp: httpx.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in resp.headers.items()}
