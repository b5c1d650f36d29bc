"""Evidence kept at match time: the farm's exact bytes, read back from a WARC with warcio."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import database_of, poll_once, rss, source_toml
from warcio.archiveiterator import ArchiveIterator

from watcher.store import Store

pytestmark = pytest.mark.usefixtures("backend")

ARTICLE_V1 = (
    b"<html><body><article><p>The Commission opens an in-depth investigation into "
    b"the deal.</p></article></body></html>"
)
ARTICLE_V2 = ARTICLE_V1.replace(b"opens", b"has opened")


def feed_body(items: list[tuple[str, str]], server) -> bytes:
    return rss(
        [
            {"title": title, "link": server.url(path), "guid": path, "html": "Summary."}
            for title, path in items
        ]
    ).encode()


@pytest.fixture
def farm(feed_server, make_config):
    """A feed with one hit (Microsoft) and one item without, its article, and a config."""
    feed = feed_body(
        [("Microsoft deal under review", "/a1"), ("Weather in Brussels", "/w1")], feed_server
    )
    feed_server.routes["/feed.xml"] = {"body": feed}
    feed_server.routes["/a1"] = {"body": ARTICLE_V1, "ctype": "text/html; charset=utf-8"}
    feed_server.routes["/w1"] = {"body": b"<p>sunny</p>", "ctype": "text/html"}
    config = make_config(
        extra=source_toml(
            "news", feed_server.url("/feed.xml"), archive_links=True, allow_private=True
        )
    )
    return feed_server, config, feed


def records(path: Path) -> list[dict]:
    """Every record of a WARC file: type, headers, HTTP status and payload, via warcio."""
    out = []
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            out.append(
                {
                    "type": record.rec_type,
                    "uri": record.rec_headers.get_header("WARC-Target-URI"),
                    "date": record.rec_headers.get_header("WARC-Date"),
                    "digest": record.rec_headers.get_header("WARC-Payload-Digest"),
                    "status": record.http_headers.get_statuscode() if record.http_headers else None,
                    "headers": record.http_headers.headers if record.http_headers else [],
                    "payload": record.content_stream().read(),
                }
            )
    return out


def test_warc_holds_the_bytes_the_farm_served_and_passes_warcio(farm, run_cli, tmp_path):
    server, config, feed = farm
    result = poll_once(config)["news"]
    assert [m.entity for _, m in result.hits] == ["Microsoft"]
    (hit_id,) = result.hit_ids
    # Only the item with a hit had its article fetched, as evidence.
    assert server.hits_on("/a1") and not server.hits_on("/w1")

    out = tmp_path / "evidence.warc.gz"
    exported = run_cli(config, "evidence", str(hit_id), "--out", str(out))
    assert exported.exit_code == 0, exported.output
    assert f"wrote {out}: 1 hits, 2 responses" in exported.output

    got = records(out)
    assert [r["type"] for r in got] == [
        "warcinfo",
        "response",
        "request",
        "response",
        "request",
        "metadata",
    ]
    responses = {r["uri"]: r for r in got if r["type"] == "response"}
    assert responses[server.url("/feed.xml")]["payload"] == feed
    assert responses[server.url("/a1")]["payload"] == ARTICLE_V1
    for r in responses.values():
        assert r["status"] == "200" and r["digest"].startswith("sha256:")
        assert r["date"].endswith("Z")
    request = next(r for r in got if r["type"] == "request")
    sent = {k.lower(): v for k, v in request["headers"]}
    assert sent["user-agent"].startswith("regwatch/") and sent["host"] == f"127.0.0.1:{server.port}"
    meta = json.loads(got[-1]["payload"])
    assert meta["hit_id"] == hit_id and meta["entity"] == "Microsoft"
    assert meta["matched"] == "Microsoft" and meta["field"] == "title"
    assert (meta["start"], meta["end"]) == (0, 9)
    assert meta["item"] == {
        "title": "Microsoft deal under review",
        "link": server.url("/a1"),
        "key": "guid:/a1",
        "published": "2024-02-26T10:00:00+00:00",
    }
    assert meta["source"] == "news" and meta["regwatch_version"]
    assert len(meta["config_sha256"]) == 64
    assert [c["role"] for c in meta["captures"]] == ["feed", "article"]

    # Web archivists' own tools read it back: the warcio command installed with warcio.
    warcio = Path(sys.executable).with_name("warcio")
    check = subprocess.run([warcio, "check", "-v", str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("digest pass") == 6  # every record has its digests
    index = subprocess.run([warcio, "index", str(out)], capture_output=True, text=True, check=True)
    index = index.stdout
    assert index.count('"warc-type": "response"') == 2

    verified = run_cli(config, "evidence", "--verify", str(out))
    assert verified.exit_code == 0 and "all 6 records match" in verified.output


def test_a_changed_page_leaves_old_evidence_unchanged_and_is_captured_apart(farm, run_cli):
    server, config, _ = farm
    (first,) = poll_once(config)["news"].hit_ids
    # The site rewrites the article; a new item links to it too and hits.
    server.routes["/a1"]["body"] = ARTICLE_V2
    server.routes["/feed.xml"]["body"] = feed_body(
        [("Microsoft deal: an update", "/a1?v=2"), ("Microsoft deal under review", "/a1")],
        server,
    )
    server.routes["/a1?v=2"] = {"body": ARTICLE_V2, "ctype": "text/html"}
    (second,) = poll_once(config)["news"].hit_ids

    store = Store(database_of(config), readonly=True)
    old, new = store.evidence_of(first), store.evidence_of(second)
    old_article = next(c for c in old.captures if c.role == "article")
    new_article = next(c for c in new.captures if c.role == "article")
    assert store.evidence_body(old_article.sha256) == ARTICLE_V1
    assert store.evidence_body(new_article.sha256) == ARTICLE_V2
    assert old_article.id != new_article.id
    assert {c.id for c in old.captures}.isdisjoint({c.id for c in new.captures})

    shown = run_cli(config, "evidence", str(first), "--show")
    assert shown.exit_code == 0
    assert f"sha256:{old_article.sha256}" in shown.output
    assert f"{len(ARTICLE_V1):,} bytes" in shown.output
    assert "feed: " + server.url("/feed.xml") in shown.output


def test_the_same_body_is_stored_once(feed_server, make_config):
    feed = feed_body([("Microsoft and OpenAI", "/x"), ("OpenAI again", "/y")], feed_server)
    feed_server.routes["/feed.xml"] = {"body": feed}
    config = make_config({"news": feed_server.url("/feed.xml")})
    hit_ids = poll_once(config)["news"].hit_ids
    assert len(hit_ids) == 3
    totals = Store(database_of(config), readonly=True).evidence_totals()
    assert totals == {
        "hits": 3,
        "captures": 1,
        "bodies": 1,
        "body_bytes": len(feed),
        "stored_bytes": totals["stored_bytes"],
    }
    assert 0 < totals["stored_bytes"] < len(feed)


def test_a_poll_without_hits_keeps_no_evidence(feed_server, make_config):
    feed_server.routes["/feed.xml"] = {"body": feed_body([("Weather", "/w")], feed_server)}
    config = make_config({"news": feed_server.url("/feed.xml")})
    poll_once(config)
    totals = Store(database_of(config), readonly=True).evidence_totals()
    assert totals["captures"] == totals["bodies"] == 0


def test_a_flipped_byte_fails_verify_naming_the_record(farm, run_cli, tmp_path):
    server, config, _ = farm
    (hit_id,) = poll_once(config)["news"].hit_ids
    plain = tmp_path / "evidence.warc"  # not gzipped: the byte to flip is easy to find
    assert run_cli(config, "evidence", str(hit_id), "--out", str(plain)).exit_code == 0
    data = bytearray(plain.read_bytes())
    at = data.index(b"in-depth")
    data[at] ^= 0x20
    plain.write_bytes(bytes(data))
    result = run_cli(config, "evidence", "--verify", str(plain))
    assert result.exit_code == 1
    bad = [line for line in result.output.splitlines() if line.startswith("BAD")]
    assert len(bad) == 1 and "response " + server.url("/a1") in bad[0]
    assert "digest failed" in result.output

    packed = tmp_path / "evidence.warc.gz"
    assert run_cli(config, "evidence", str(hit_id), "--out", str(packed)).exit_code == 0
    data = bytearray(packed.read_bytes())
    data[len(data) // 2] ^= 0xFF
    packed.write_bytes(bytes(data))
    assert run_cli(config, "evidence", "--verify", str(packed)).exit_code == 1


def test_bad_inputs_are_clear_and_write_nothing(farm, run_cli, tmp_path):
    server, config, _ = farm
    (hit_id,) = poll_once(config)["news"].hit_ids
    out = tmp_path / "e.warc.gz"

    unknown = run_cli(config, "evidence", str(hit_id), "999", "--out", str(out))
    assert unknown.exit_code == 1 and "no hit with id 999" in unknown.output
    assert not out.exists()

    nowhere = tmp_path / "missing" / "e.warc.gz"
    result = run_cli(config, "evidence", str(hit_id), "--out", str(nowhere))
    assert result.exit_code == 1 and "does not exist" in result.output

    folder = tmp_path / "a-folder.warc.gz"
    folder.mkdir()
    result = run_cli(config, "evidence", str(hit_id), "--out", str(folder))
    assert result.exit_code != 0
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []

    assert run_cli(config, "evidence", str(hit_id)).exit_code == 2  # neither --out nor --show
    missing = run_cli(config, "evidence", "--verify", str(tmp_path / "nope.warc.gz"))
    assert missing.exit_code == 1 and "cannot read" in missing.output

    not_warc = tmp_path / "not.warc.gz"
    not_warc.write_bytes(gzip.compress(b"hello"))
    assert run_cli(config, "evidence", "--verify", str(not_warc)).exit_code == 1


def test_pruned_evidence_says_when_and_why(farm, run_cli, tmp_path):
    server, config, _ = farm
    (hit_id,) = poll_once(config)["news"].hit_ids
    text = config.read_text().replace("[storage]\n", '[storage]\nretention_evidence = "1s"\n', 1)
    config.write_text(text)
    store = Store(database_of(config))
    store.engine.execute("UPDATE hits SET created = '2020-01-01T00:00:00+00:00'")
    vacuum = run_cli(config, "vacuum")
    assert vacuum.exit_code == 0 and "evidence of 1 hits" in vacuum.output

    shown = run_cli(config, "evidence", str(hit_id), "--show")
    assert "evidence pruned on " in shown.output and "the hit was still new" in shown.output
    out = tmp_path / "e.warc.gz"
    result = run_cli(config, "evidence", str(hit_id), "--out", str(out))
    assert result.exit_code == 1 and "was pruned on" in result.output and not out.exists()
    totals = Store(database_of(config), readonly=True).evidence_totals()
    assert totals["captures"] == totals["bodies"] == 0


def test_press_corner_keeps_the_api_answer_and_the_document(feed_server, make_config):
    from test_sources import SEARCH, document

    search = json.dumps(SEARCH)
    doc = document("IP/24/1234", "<p>The deal between Microsoft and Mistral AI.</p>")
    feed_server.routes["/api/search?language=en&pagesize=50&pagenumber=1"] = {
        "body": search,
        "ctype": "application/json",
    }
    feed_server.routes["/api/documents?reference=IP/24/1234&language=en"] = {
        "body": doc,
        "ctype": "application/json",
    }
    config = make_config(extra=source_toml("pc", feed_server.url("/api"), kind="presscorner"))
    result = poll_once(config)["pc"]
    store = Store(database_of(config), readonly=True)
    hit = next(h for h in result.hit_ids if store.get_hit(h).entity == "Microsoft")
    held = store.evidence_of(hit)
    assert [c.role for c in held.captures] == ["api", "document"]
    api, document_capture = held.captures
    assert store.evidence_body(api.sha256) == search.encode()
    assert store.evidence_body(document_capture.sha256) == doc.encode()
    assert document_capture.url.endswith("reference=IP/24/1234&language=en")


def test_archive_links_keep_the_private_address_guard(feed_server, make_config, caplog):
    feed_server.routes["/feed.xml"] = {"body": feed_body([("Microsoft deal", "/a1")], feed_server)}
    feed_server.routes["/a1"] = {"body": ARTICLE_V1, "ctype": "text/html"}
    config = make_config(
        extra=source_toml("news", feed_server.url("/feed.xml"), archive_links=True)
    )
    (hit_id,) = poll_once(config)["news"].hit_ids
    assert not feed_server.hits_on("/a1")  # a loopback link from a feed is refused
    held = Store(database_of(config), readonly=True).evidence_of(hit_id)
    assert [c.role for c in held.captures] == ["feed"]
    assert "a loopback address" in caplog.text


def test_full_text_pages_are_kept_as_evidence_too(feed_server, make_config):
    feed_server.routes["/feed.xml"] = {"body": feed_body([("Deal news", "/a1")], feed_server)}
    feed_server.routes["/a1"] = {
        "body": b"<article>Microsoft buys a stake.</article>",
        "ctype": "text/html",
    }
    config = make_config(
        extra=source_toml("news", feed_server.url("/feed.xml"), full_text=True, allow_private=True)
    )
    (hit_id,) = poll_once(config)["news"].hit_ids  # found in the article only
    held = Store(database_of(config), readonly=True).evidence_of(hit_id)
    assert [c.role for c in held.captures] == ["feed", "article"]
    assert len(feed_server.hits_on("/a1")) == 1  # fetched once, for text and evidence
