"""A local farm of RSS feeds (HTTP/1.1, ETags, latency) and an SMTP sink, in one process.

    python benchmarks/farm.py --feeds 300 --items 50 --hosts 30 --latency-ms 30

benchmarks/poll.py starts it as a child process, so the farm's CPU is not charged to the
tool being timed and the farm does not share a GIL with the driver. Plain stdlib, asyncio:

- Feed n is served at http://127.0.0.{1 + n % hosts}:PORT/f{n}.xml, one listening socket
  per loopback address (Linux routes all of 127/8 to lo), all on the same port, so a
  client's per-host connection limit applies as with 30 real servers.
- Every answer waits `latency` seconds first (asyncio.sleep: other requests go on), as a
  distant server would; HTTP/1.1 keep-alive is honoured (a request asking for
  `Connection: close`, as urllib's do, gets it). Bodies are sent as they are (no gzip).
- Every feed has an ETag; a matching If-None-Match gets 304 Not Modified.
- The SMTP sink on 127.0.0.1:SMTP_PORT accepts every message (EHLO/HELO, MAIL, RCPT,
  DATA, RSET, NOOP, QUIT) and counts it; nothing is stored.

On start it prints one line, `ready PORT SMTP_PORT`. Then it reads commands on stdin, one
a line, and answers each with one line on stdout:

    etags on|off   serve ETags and answer If-None-Match with 304 (on by default)
    extra K        serve K more items in every feed (new guids), from now on
    stats          JSON counters since the last `stats`, then reset them
    quit           exit (end of stdin does the same)
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import socket
import sys
import threading
from dataclasses import asdict, dataclass
from xml.sax.saxutils import escape

WORDS = [
    "Commission",
    "competition",
    "merger",
    "digital",
    "markets",
    "regulation",
    "investigation",
    "partnership",
    "cloud",
    "software",
    "model",
    "fine",
    "decision",
    "market",
    "access",
    "data",
    "protection",
    "authority",
]

WHO = ("Microsoft", "OpenAI", "Mistral AI", "Contoso")  # 3 of 4 items mention a watched name


def item_html(n: int, i: int) -> str:
    """The HTML description of item i of feed n: ~2.5 KB, four paragraphs and a list."""

    def words(shift: int, count: int) -> str:
        return " ".join(WORDS[(n + i + shift + k) % len(WORDS)] for k in range(count))

    who = WHO[(n + i) % 4]
    return (
        f"<p>{words(0, 70)}</p>"
        f"<p>The <b>{who}</b> case. {words(5, 60)}</p>"
        f'<p>{words(11, 50)} <a href="https://feed{n}.example/{i}/doc">decision</a>.</p>'
        f"<ul><li>{words(3, 12)}</li><li>{words(7, 12)}</li></ul>"
        f"<p><i>{words(13, 60)}</i></p>"
    )


def feed(n: int, items: int, extra: int = 0) -> bytes:
    """RSS 2.0 feed n with `items` + `extra` items; the extra ones come first (newest)."""
    parts = [
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {n}</title><link>https://feed{n}.example/</link><description>d</description>"
    ]
    for i in reversed(range(items + extra)):
        who = WHO[(n + i) % 4]
        parts.append(
            f"<item><title>{who} item {i} of feed {n}</title>"
            f"<link>https://feed{n}.example/{i}</link><guid>f{n}-{i}</guid>"
            f"<pubDate>Mon, 26 Feb 2024 10:00:00 +0000</pubDate>"
            f"<description>{escape(item_html(n, i))}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def host_of(n: int, hosts: int) -> str:
    """The loopback address serving feed n."""
    return f"127.0.0.{1 + n % hosts}"


@dataclass
class Stats:
    connections: int = 0
    requests: int = 0
    ok: int = 0
    not_modified: int = 0
    bytes: int = 0
    smtp_connections: int = 0
    mails: int = 0
    mail_bytes: int = 0


class Farm:
    def __init__(self, feeds: int, items: int, latency: float) -> None:
        self.feeds, self.items, self.latency = feeds, items, latency
        self.etags = True
        self.stats = Stats()
        self.set_extra(0)

    def set_extra(self, extra: int) -> None:
        self.bodies: dict[str, tuple[bytes, str]] = {}
        for n in range(self.feeds):
            body = feed(n, self.items, extra)
            self.bodies[f"/f{n}.xml"] = (body, '"' + hashlib.sha1(body).hexdigest()[:16] + '"')

    async def http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = (lines[0].split(" ") + ["", ""])[:3]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                if length:
                    await reader.readexactly(length)
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                self.stats.requests += 1
                await asyncio.sleep(self.latency)
                found = self.bodies.get(target.split("?")[0])
                if found is None or method not in ("GET", "HEAD"):
                    status, body, extra = "404 Not Found", b"not found\n", ""
                else:
                    body, etag = found
                    if self.etags and headers.get("if-none-match") == etag:
                        status, body, extra = "304 Not Modified", b"", f"ETag: {etag}\r\n"
                        self.stats.not_modified += 1
                    else:
                        status = "200 OK"
                        extra = "Content-Type: application/rss+xml; charset=utf-8\r\n"
                        extra += f"ETag: {etag}\r\n" if self.etags else ""
                        self.stats.ok += 1
                if method == "HEAD":
                    body = b""
                out = (
                    f"HTTP/1.1 {status}\r\n{extra}Content-Length: {len(body)}\r\n"
                    + ("Connection: close\r\n" if close else "")
                    + "\r\n"
                ).encode() + body
                writer.write(out)
                self.stats.bytes += len(out)
                await writer.drain()
                if close:
                    return
        finally:
            writer.close()

    async def smtp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.smtp_connections += 1
        try:
            writer.write(b"220 sink ESMTP\r\n")
            while True:
                line = await reader.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-sink\r\n250 8BITMIME\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 end with <CRLF>.<CRLF>\r\n")
                    data = await reader.readuntil(b"\r\n.\r\n")
                    self.stats.mails += 1
                    self.stats.mail_bytes += len(data)
                    writer.write(b"250 queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    return
                else:  # HELO, MAIL, RCPT, RSET, NOOP
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    def command(self, line: str) -> str:
        """Run one control command (in the event loop's thread); return the answer line."""
        verb, _, arg = line.strip().partition(" ")
        if verb == "etags":
            self.etags = arg == "on"
        elif verb == "extra":
            self.set_extra(int(arg))
        elif verb == "stats":
            out, self.stats = json.dumps(asdict(self.stats)), Stats()
            return out
        else:
            return f"unknown command {line.strip()!r}"
        return "ok"


def listeners(hosts: int, tries: int = 20) -> list[socket.socket]:
    """One listening socket per address 127.0.0.1..127.0.0.hosts, all on one free port."""
    for _ in range(tries):
        socks: list[socket.socket] = []
        port = 0
        try:
            for h in range(hosts):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host_of(h, hosts), port))
                s.listen(1024)
                port = s.getsockname()[1]
            return socks
        except OSError:  # the port is taken on some address: try another
            for s in socks:
                s.close()
    raise SystemExit(f"no port free on all of 127.0.0.1-127.0.0.{hosts}")


async def serve(args: argparse.Namespace) -> None:
    farm = Farm(args.feeds, args.items, args.latency_ms / 1000)
    loop = asyncio.get_running_loop()
    servers = [await asyncio.start_server(farm.http, sock=s) for s in listeners(args.hosts)]
    sink = await asyncio.start_server(farm.smtp, "127.0.0.1", 0, backlog=1024)
    port = servers[0].sockets[0].getsockname()[1]
    print(f"ready {port} {sink.sockets[0].getsockname()[1]}", flush=True)
    done = loop.create_future()

    def control() -> None:  # a thread: blocking reads of stdin, commands run in the loop
        for line in sys.stdin:
            if line.strip() == "quit":
                break

            async def run(line: str = line) -> str:
                return farm.command(line)

            answer = asyncio.run_coroutine_threadsafe(run(), loop).result()
            print(answer, flush=True)
        loop.call_soon_threadsafe(done.set_result, None)

    threading.Thread(target=control, daemon=True).start()
    await done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=30, help="loopback addresses (1-254)")
    parser.add_argument("--latency-ms", type=float, default=30.0)
    args = parser.parse_args()
    if not 1 <= args.hosts <= 254:
        parser.error("--hosts must be between 1 and 254")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
