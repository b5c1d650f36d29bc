"""The private-address guard of full-text fetches: every spelling of a private address is
refused, IPv4 wrapped in IPv6 (NAT64, 6to4, Teredo, IPv4-compatible) included (issue 15.2)."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import sys
import textwrap

import pytest
from test_fetching import fetch_with

from watcher.errors import FetchError
from watcher.pipeline.addresses import embedded_ipv4, refuse_private


@pytest.mark.parametrize(
    "address,reason",
    [
        ("127.0.0.1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("100.64.0.1", "a reserved, non-public address"),  # CGNAT
        ("169.254.1.1", "a link-local address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("0.0.0.0", "the unspecified address"),
        ("::1", "a loopback address"),
        ("::", "the unspecified address"),
        ("fe80::1", "a link-local address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("::ffff:127.0.0.1", "a loopback address (127.0.0.1) in IPv4-mapped form"),
        ("::ffff:192.168.0.1", "a private address (192.168.0.1) in IPv4-mapped form"),
        ("64:ff9b::7f00:1", "a loopback address (127.0.0.1) in NAT64 form"),
        ("64:ff9b::a9fe:a9fe", "a cloud metadata address (169.254.169.254) in NAT64 form"),
        ("64:ff9b:1::7f00:1", "in NAT64 form"),  # local-use prefix, /96 position
        ("64:ff9b:1:7f00:0:100::", "a loopback address (127.0.0.1) in NAT64 form"),  # /48
        ("2002:7f00:1::1", "a loopback address (127.0.0.1) in 6to4 form"),
        ("2002:a00:1::", "a private address (10.0.0.1) in 6to4 form"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "in Teredo form"),  # client 127.0.0.1
        ("::127.0.0.1", "a loopback address (127.0.0.1) in IPv4-compatible form"),
        ("::10.0.0.1", "a private address (10.0.0.1) in IPv4-compatible form"),
    ],
)
def test_private_address_is_refused_in_every_form(address, reason):
    assert reason in (refuse_private(ipaddress.ip_address(address)) or "allowed")


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"],
)
def test_public_address_is_allowed_in_every_form(address):
    assert refuse_private(ipaddress.ip_address(address)) is None


def test_teredo_client_address_is_unwrapped():
    # The client address is stored inverted: 80ff:fffe is 127.0.0.1.
    found = embedded_ipv4(ipaddress.ip_address("2001:0:4136:e378:8000:63bf:80ff:fffe"))
    assert ("Teredo", ipaddress.IPv4Address("127.0.0.1")) in found


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",  # decimal
        "0177.0.0.1",  # octal (httpx cannot parse it: a bad URL, refused as well)
        "0x7f000001",  # hex
        "127.1",  # short
        "localhost",  # a name resolving to loopback
        "[::ffff:127.0.0.1]",
        "[::127.0.0.1]",
        "[64:ff9b::7f00:1]",
        "[2002:7f00:1::1]",
    ],
)
@pytest.mark.one_store
def test_fetch_refuses_every_spelling_of_loopback(feed_server, host):
    feed_server.routes["/page"] = {"body": "<p>internal</p>", "ctype": "text/html"}
    with pytest.raises(FetchError):
        fetch_with(f"http://{host}:{feed_server.port}/page", refuse_private)
    assert feed_server.hits_on("/page") == []


@pytest.mark.parametrize("target", ["http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::1]/"])
@pytest.mark.one_store
def test_redirect_to_wrapped_loopback_is_refused(feed_server, target):
    feed_server.routes["/go"] = {"status": 302, "headers": {"Location": target}}
    guard = lambda ip: None if ip == ipaddress.ip_address("127.0.0.1") else refuse_private(ip)  # noqa: E731
    with pytest.raises(FetchError, match="in (NAT64|6to4) form"):
        fetch_with(feed_server.url("/go"), guard)


NAMESPACE_SCRIPT = textwrap.dedent(
    """
    import subprocess, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import socket
    sys.path.insert(0, sys.argv[1])
    from test_fetching import fetch_with
    from watcher.errors import FetchError
    from watcher.pipeline.addresses import refuse_private

    for cmd in (["ip", "link", "set", "lo", "up"],
                ["ip", "addr", "add", "64:ff9b::7f00:1/128", "dev", "lo", "nodad"],
                ["ip", "addr", "add", "2002:7f00:1::1/128", "dev", "lo", "nodad"]):
        subprocess.run(cmd, check=True)

    hits = []
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "14")
            self.end_headers()
            self.wfile.write(b"<p>secret</p>\\n")

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6
    httpd = Server(("::", 0), Handler)
    port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    for host in ("64:ff9b::7f00:1", "2002:7f00:1::1"):
        url = f"http://[{host}]:{port}/{host}"
        reached = fetch_with(url, None)  # the address is reachable here...
        assert reached.body.startswith(b"<p>secret"), reached
        try:
            fetch_with(url + "/guarded", refuse_private)  # ...and refused by the guard
        except FetchError as exc:
            print("refused", host, exc.message)
        else:
            print("REACHED", host)
    print("hits", sorted(hits))
    """
)


@pytest.mark.one_store
def test_wrapped_loopback_served_in_a_network_namespace_is_refused(tmp_path):
    """A server really listening on the NAT64 and 6to4 addresses (inside a network namespace
    of this test's own): reachable without the guard, refused with it, never connected."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("needs unshare and ip (iproute2) to make a network namespace")
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    if probe.returncode:
        pytest.skip(f"cannot make a network namespace here: {probe.stderr.decode().strip()}")
    script = tmp_path / "namespace.py"
    script.write_text(NAMESPACE_SCRIPT)
    tests = str(__import__("pathlib").Path(__file__).parent)
    done = subprocess.run(
        ["unshare", "-rn", sys.executable, str(script), tests],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "refused 64:ff9b::7f00:1" in done.stdout and "in NAT64 form" in done.stdout
    assert "refused 2002:7f00:1::1" in done.stdout and "in 6to4 form" in done.stdout
    assert "REACHED" not in done.stdout
    assert "guarded" not in done.stdout.split("hits", 1)[1]  # never connected when guarded
