"""The reviewer's web pages, in process: hit list, hit page, sign-in, CSRF, reviews, WARC."""

from __future__ import annotations

import asyncio
import io
import json
import re
import tempfile
from pathlib import Path

import pytest
from conftest import database_of, poll_once, rss, source_toml

pytest.importorskip("datasette", reason="the web extra is not installed: pip install '.[web]'")

from warcio.archiveiterator import ArchiveIterator  # noqa: E402

from watcher.config.model import Account, Web  # noqa: E402
from watcher.passwords import check_password, hash_password  # noqa: E402
from watcher.store import Store  # noqa: E402
from watcher.web import make_datasette  # noqa: E402

# A cheap hash for tests: the iterations are in the hash, so checking it is cheap too.
ALICE = Account("alice", hash_password("correct horse", iterations=1000))
BOB = Account("bob", hash_password("battery staple", iterations=1000))


pytestmark = pytest.mark.usefixtures("backend")


class Visitor:
    """One browser's cookies against an in-process web view of a store (over PostgreSQL,
    Datasette's pages read a copy made when the visitor arrives)."""

    def __init__(self, db: str | Path, web: Web) -> None:
        database = str(db)
        view = Path(database)
        if database.startswith("postgresql://"):
            from watcher.store.snapshot import Snapshot

            view = Path(tempfile.mkdtemp(prefix="rw-view-")) / "regwatch.db"
            source, target = Store(database, readonly=True), Store(view)
            Snapshot(source, target).refresh()
            source.close()
            target.close()
        self.ds = make_datasette(view, web, None, database)
        self.cookies: dict[str, str] = {}

    def go(self, method: str, path: str, **kwargs):
        async def run():
            return await getattr(self.ds.client, method)(path, cookies=self.cookies, **kwargs)

        response = asyncio.run(run())
        for name, value in response.cookies.items():
            self.cookies[name] = value
        if "ds_actor" in response.headers.get("set-cookie", "") and not response.cookies.get(
            "ds_actor"
        ):
            self.cookies.pop("ds_actor", None)
        return response

    def get(self, path: str):
        return self.go("get", path)

    def token(self, path: str = "/-/hits") -> str:
        page = self.get(path).text
        return re.search(r'name="csrftoken" value="([^"]+)"', page).group(1)

    def sign_in(self, name: str, password: str, next_: str = "/-/hits"):
        token = self.token("/-/login")
        return self.go(
            "post",
            "/-/login",
            data={"csrftoken": token, "name": name, "password": password, "next": next_},
        )

    def review(self, hit_id: int, status: str, note: str = "", **extra: str):
        token = self.token(f"/-/hits/{hit_id}")
        data = {"csrftoken": token, "status": status, "note": note, **extra}
        return self.go("post", f"/-/hits/{hit_id}/review", data=data)


@pytest.fixture
def db(hit_config, database) -> str:
    return database


def test_the_hit_list_is_for_people_who_do_not_write_sql(db):
    page = Visitor(db, Web()).get("/-/hits")
    assert page.status_code == 200
    html = page.text
    assert html.count('class="rw-hit"') == 5
    assert "Die Kommission prüft die Beteiligung von Microsoft" in html
    assert '<time datetime="2024-02-12T09:00:00+00:00">' in html  # shown in the reader's zone
    assert "<mark>OpenAI</mark>" in html
    assert html.count('rw-status-new">new</span>') == 5
    assert "5 new</strong>" in html  # the backlog
    assert 'href="/regwatch"' in html  # Datasette's tables one click away
    assert "csrftoken" not in html.split("rw-filters")[1]  # no review form for anonymous
    assert "Sign in to review" not in html  # no accounts: read-only


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("entity=OpenAI", ["La Société Générale"]),
        ("source=spiegel", ["Die Kommission prüft"]),
        ("q=societe", ["La Société Générale"]),
        ("from=2024-02-20&to=2024-02-26", ["La Société Générale"]),
        ("status=actioned", []),
        ("q=%22unclosed", []),
    ],
    ids=["entity", "source", "search", "dates", "status", "bad-search"],
)
def test_the_hit_list_filters(db, query, titles):
    html = Visitor(db, Web()).get("/-/hits?" + query).text
    shown = re.findall(r'<h2><a href="/-/hits/\d+">([^<]+)</a>', html)
    assert [t for t in shown if not any(t.startswith(x) for x in titles)] == []
    assert len({t for t in shown}) == len(titles)
    if "unclosed" in query:
        assert "double quote is not closed" in html


def test_the_hit_page_says_why_lists_the_story_and_has_no_evidence_yet(db):
    html = Visitor(db, Web()).get("/-/hits/2").text
    assert "Why it matched" in html and "“Mistral AI” in the title" in html
    assert "Not reviewed yet." in html
    assert "before regwatch kept evidence" in html
    assert Visitor(db, Web()).get("/-/hits/999").status_code == 404


def test_sign_in_review_and_the_review_is_the_accounts(db):
    web = Web(accounts=(ALICE, BOB))
    alice = Visitor(db, web)
    assert "Sign in to review" in alice.get("/-/hits").text
    wrong = alice.sign_in("alice", "wrong")
    assert wrong.status_code == 401 and "wrong password" in wrong.text
    assert alice.sign_in("mallory", "correct horse").status_code == 401
    ok = alice.sign_in("alice", "correct horse", next_="/-/hits/3")
    assert ok.status_code == 302 and ok.headers["location"] == "/-/hits/3"
    assert "Signed in as <strong" in alice.get("/-/hits").text

    # The form names no reviewer; a name slipped into it is ignored.
    done = alice.review(3, "actioned", "sent to the client", by="bob")
    assert done.status_code == 302
    page = alice.get(done.headers["location"]).text
    assert "Review recorded." in page and "sent to the client" in page
    hit = Store(db, readonly=True).get_hit(3)
    assert (hit.status, hit.reviewed_by, hit.note) == ("actioned", "alice", "sent to the client")
    log = Store(db, readonly=True).review_log(hit_id=3)
    assert [(r.by, r.from_status, r.to_status) for r in log] == [("alice", "new", "actioned")]
    assert "new → actioned" in page

    # From the list, back to the list.
    back = alice.review(4, "dismissed", next="/-/hits?status=new")
    assert back.headers["location"] == "/-/hits?status=new"
    # Never somewhere else.
    away = alice.review(5, "reviewed", next="https://evil.example/")
    assert away.headers["location"].startswith("/-/hits/5")


def test_reviews_need_a_signed_in_account_and_the_csrf_token(db):
    web = Web(accounts=(ALICE,))
    anonymous = Visitor(db, web)
    token = anonymous.token("/-/login")
    refused = anonymous.go(
        "post", "/-/hits/1/review", data={"csrftoken": token, "status": "actioned"}
    )
    assert refused.status_code == 403

    alice = Visitor(db, web)
    alice.sign_in("alice", "correct horse")
    forged = alice.go("post", "/-/hits/1/review", data={"status": "actioned"})
    assert forged.status_code == 403  # Datasette's CSRF protection: no token
    wrong = alice.go("post", "/-/hits/1/review", data={"status": "actioned", "csrftoken": "x"})
    assert wrong.status_code == 403
    assert Store(db, readonly=True).get_hit(1).status == "new"

    # A login without the CSRF cookie is refused too (login CSRF).
    bare = Visitor(db, web)
    sneaky = bare.go("post", "/-/login", data={"name": "alice", "password": "correct horse"})
    assert sneaky.status_code == 403 and "ds_actor" not in bare.cookies


def test_a_removed_account_is_signed_out(db):
    alice = Visitor(db, Web(accounts=(ALICE,)))
    alice.sign_in("alice", "correct horse")
    cookies = dict(alice.cookies)
    after = Visitor(db, Web(accounts=(BOB,)))
    after.ds._secret = alice.ds._secret  # same signing secret: only the account changed
    after.cookies = cookies
    assert "Signed in as" not in after.get("/-/hits").text


def test_anonymous_none_sends_everyone_to_sign_in(db):
    web = Web(accounts=(ALICE,), anonymous="none")
    visitor = Visitor(db, web)
    for path in ("/", "/-/hits", "/regwatch/hits", "/-/stats"):
        response = visitor.get(path)
        assert response.status_code == 302, path
        assert response.headers["location"].startswith("/-/login?next="), path
    assert visitor.get("/regwatch/hits.json").status_code == 401
    assert visitor.get("/-/login").status_code == 200
    visitor.sign_in("alice", "correct horse")
    assert visitor.get("/regwatch/hits.json").status_code == 200
    assert visitor.get("/-/hits").status_code == 200


def test_the_warc_download_and_evidence_on_the_hit_page(feed_server, make_config):
    article = b"<html><body><article>Microsoft and the Commission.</article></body></html>"
    feed = rss([{"title": "Microsoft news", "link": feed_server.url("/a"), "html": "x"}])
    feed_server.routes["/feed.xml"] = {"body": feed}
    feed_server.routes["/a"] = {"body": article, "ctype": "text/html"}
    config = make_config(
        extra=source_toml(
            "news", feed_server.url("/feed.xml"), archive_links=True, allow_private=True
        )
    )
    (hit_id,) = poll_once(config)["news"].hit_ids
    visitor = Visitor(database_of(config), Web())
    page = visitor.get(f"/-/hits/{hit_id}").text
    assert f'href="/-/hits/{hit_id}.warc.gz"' in page
    assert page.count("<td>article</td>") == 1 and page.count("<td>feed</td>") == 1
    evidence = Store(database_of(config), readonly=True).evidence_of(hit_id)
    assert all(c.sha256 in page for c in evidence.captures)

    download = visitor.get(f"/-/hits/{hit_id}.warc.gz")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    payloads = {
        r.rec_headers.get_header("WARC-Target-URI"): r.content_stream().read()
        for r in ArchiveIterator(io.BytesIO(download.content))
        if r.rec_type == "response"
    }
    assert payloads == {feed_server.url("/feed.xml"): feed.encode(), feed_server.url("/a"): article}
    meta = [
        json.loads(r.content_stream().read())
        for r in ArchiveIterator(io.BytesIO(download.content))
        if r.rec_type == "metadata"
    ]
    assert meta[0]["hit_id"] == hit_id


def test_trends_show_the_backlog_and_count_by_status(db):
    Store(db).review_hits([1, 2], "actioned", "alice")
    visitor = Visitor(db, Web())
    html = visitor.get("/-/stats?since=2024-01-01&until=2024-03-31&by=status&every=month").text
    assert "3 new</strong>" in html and "2 actioned" in html
    names = re.findall(r'<span class="rw-name">([^<]+)</span>', html)
    assert sorted(names) == ["actioned", "new"]


@pytest.mark.one_store
def test_password_hashes_check_and_differ():
    stored = hash_password("s3cret-pass", iterations=1000)
    assert stored.startswith("pbkdf2_sha256$1000$") and "s3cret" not in stored
    assert check_password("s3cret-pass", stored)
    assert not check_password("s3cret-pasS", stored)
    assert hash_password("s3cret-pass", iterations=1000) != stored  # salted
    assert not check_password("x", "not-a-hash")


def test_feed_text_is_escaped_and_unsafe_links_are_not_links(make_config):

    from watcher.model import Item, Mention, SourceState

    config = make_config()
    db = database_of(config)
    store = Store(db)
    title = '<script>alert(1)</script> Microsoft <img src=x onerror="alert(2)">'
    item = Item(key="k", title=title, link="javascript:alert(3)", published=None, text="x")
    mention = Mention("Microsoft", "Microsoft", "title", 26, 35, title)
    store.save_poll(
        SourceState("evil", "https://e/"),
        [item],
        [(item, mention)],
        lambda m: [],
        alert=False,
        http_status=200,
    )
    store.close()
    for path in ("/-/hits", "/-/hits/1"):
        html = Visitor(db, Web()).get(path).text
        assert "<script>alert(1)" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html
        assert 'href="javascript:' not in html


@pytest.mark.one_store
def test_web_password_prints_a_hash_that_checks(run_cli, make_config):
    result = run_cli(
        make_config(), "web-password", "--name", "carol", input="s3cret-pass\ns3cret-pass\n"
    )
    assert result.exit_code == 0, result.output
    stored = re.search(r'password_hash = "([^"]+)"', result.output).group(1)
    assert '[[web.accounts]]\nname = "carol"' in result.output
    assert "s3cret-pass" not in result.output.split("\n", 2)[-1]
    assert check_password("s3cret-pass", stored) and not check_password("other", stored)
    short = run_cli(make_config(), "web-password", input="short\nshort\n")
    assert short.exit_code == 2


def test_a_review_never_upgrades_the_database(db):
    store = Store(db)
    store.engine.execute("DELETE FROM _migrations WHERE name = '072_latest_hits_status'")
    store.close()
    alice = Visitor(db, Web(accounts=(ALICE,)))
    alice.sign_in("alice", "correct horse")
    refused = alice.review(1, "actioned")
    assert refused.status_code == 409 and "older regwatch" in refused.text
    assert "072_latest_hits_status" not in Store(db, readonly=True).migrations()
    assert Store(db, readonly=True).get_hit(1).status == "new"
