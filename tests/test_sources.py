"""Source kinds beyond RSS: html listings, the press corner API and full-text fetching."""

from __future__ import annotations

import json

import pytest
from conftest import poll_once, rss, source_toml, stored_rows

from watcher.timeparse import parse_date

ECL_ITEM = """
<article class="ecl-content-item">
  <div class="ecl-content-block">
    <ul class="ecl-content-block__primary-meta-container">
      <li class="ecl-content-block__primary-meta-item">News article</li>
      <li class="ecl-content-block__primary-meta-item"><time datetime="{stamp}">{shown}</time></li>
    </ul>
    <div class="ecl-content-block__title"><a href="{href}" class="ecl-link">{title}</a></div>
    <div class="ecl-content-block__description"><p>{summary}</p></div>
  </div>
</article>"""


def ecl_page(items: list[dict[str, str]]) -> str:
    """An ECL listing page like commission.europa.eu's news, with navigation around it."""
    body = "".join(ECL_ITEM.format(**it) for it in items)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>News</title></head>'
        '<body><header class="ecl-site-header"><nav><a href="/">Home</a> Microsoft menu</nav>'
        f'</header><main><div class="ecl-content-item-block">{body}</div></main>'
        "<footer>Contact</footer></body></html>"
    )


ECL_ITEMS = [
    {
        "stamp": "2024-02-27T10:00:00Z",
        "shown": "27 February 2024",
        "href": "/news/microsoft-mistral_en",
        "title": "Commission looks into Microsoft's investment in Mistral AI",
        "summary": "The Commission has received information on the agreement.",
    },
    {
        "stamp": "",
        "shown": "26 février 2024",
        "href": "https://commission.example.eu/news/agri_en",
        "title": "Agriculture council conclusions",
        "summary": "Nothing about OpenAI here? It is, in fact.",
    },
]


def poll(config_path, force=False):
    return poll_once(config_path, force)


def items_of(config_path, source):
    return stored_rows(config_path, "items", source)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("26 Feb 2024", "2024-02-26"),
        ("26 février 2024", "2024-02-26"),
        ("26. Februar 2024", "2024-02-26"),
        ("Sept 26, 2024", "2024-09-26"),
        ("3 Sept 2024", "2024-09-03"),
        ("12 giugno 2023", "2023-06-12"),
        ("1 de marzo de 2024", "2024-03-01"),
        ("26/02/2024", "2024-02-26"),
        ("26.02.2024", "2024-02-26"),
        ("2024-02-26T10:00:00+01:00", "2024-02-26T09:00"),
        ("Mon, 26 Feb 2024 10:00:00 +0000", "2024-02-26T10:00"),
    ],
)
def test_dates_in_several_forms_and_languages(text, expected):
    assert parse_date(text).startswith(expected)


@pytest.mark.parametrize("text", ["", "yesterday", "Page 2", "2 days ago"])
def test_text_that_is_no_date_gives_none(text):
    assert parse_date(text) is None


def test_ecl_listing_items_become_hits_with_resolved_links_and_dates(
    feed_server, make_config, run_cli
):
    feed_server.routes["/news_en"] = {"body": ecl_page(ECL_ITEMS), "ctype": "text/html"}
    config = make_config(extra=source_toml("ec-news", feed_server.url("/news_en"), kind="html"))

    result = poll(config)["ec-news"]
    assert result.status == "ok", result.error
    items = items_of(config, "ec-news")
    assert [i["title"] for i in items] == [ECL_ITEMS[0]["title"], ECL_ITEMS[1]["title"]]
    assert items[0]["link"] == feed_server.url("/news/microsoft-mistral_en")
    assert items[0]["published"] == "2024-02-27T10:00:00+00:00"
    assert items[1]["published"] == "2024-02-26T00:00:00+00:00"  # text date, French
    assert "received information on the agreement" in items[0]["text"]
    hits = json.loads(run_cli(config, "hits", "--format", "json").output)
    assert {(h["entity"], h["title"]) for h in hits} == {
        ("Microsoft", ECL_ITEMS[0]["title"]),
        ("Mistral AI", ECL_ITEMS[0]["title"]),
        ("OpenAI", ECL_ITEMS[1]["title"]),
    }  # the navigation's "Microsoft menu" is not an item


def test_custom_selectors_and_undated_items_get_their_discovery_time(feed_server, make_config):
    page = (
        "<html><body><ul id='news'>"
        "<li><h3><a href='/a'>OpenAI fined</a></h3><span class='when'>Sept 3, 2024</span></li>"
        "<li><h3><a href='javascript:alert(1)'>Undated note on Microsoft</a></h3></li>"
        "</ul></body></html>"
    )
    feed_server.routes["/list"] = {"body": page, "ctype": "text/html; charset=utf-8"}
    selectors = {"item": "#news li", "title": "h3", "link": "h3 a", "date": ".when"}
    config = make_config(
        extra=source_toml("reg", feed_server.url("/list"), kind="html", selectors=selectors)
    )

    assert poll(config)["reg"].status == "ok"
    first, second = items_of(config, "reg")
    assert first["published"] == "2024-09-03T00:00:00+00:00"
    assert first["link"] == feed_server.url("/a")
    assert second["link"] is None  # javascript: links are dropped
    assert second["published"] is not None and second["published"] >= second["discovered"][:10]


def test_a_selector_that_suddenly_matches_nothing_is_a_source_error(
    feed_server, make_config, run_cli
):
    feed_server.routes["/news_en"] = {"body": ecl_page(ECL_ITEMS), "ctype": "text/html"}
    config = make_config(extra=source_toml("ec-news", feed_server.url("/news_en"), kind="html"))
    assert poll(config)["ec-news"].status == "ok"

    feed_server.routes["/news_en"] = {
        "body": "<html><body><div class='new-layout'>News</div></body></html>",
        "ctype": "text/html",
    }
    result = poll(config, force=True)["ec-news"]
    assert result.status == "error"
    assert "matches nothing" in result.error and "article.ecl-content-item" in result.error
    listing = json.loads(run_cli(config, "sources", "--format", "json").output)
    assert listing[0]["status"] == "error" and "layout" in listing[0]["error"]
    assert listing[0]["items"] == 2  # what was stored before is kept


def test_bad_selector_is_a_config_error_naming_the_key(make_config, run_cli):
    config = make_config(
        extra=source_toml(
            "reg", "https://example.org/", kind="html", selectors={"item": "div[[broken"}
        )
    )
    result = run_cli(config, "check")
    assert result.exit_code == 3
    assert "sources[0].selectors.item" in result.output and "not a CSS selector" in result.output


def test_unknown_kind_is_a_config_error_with_a_hint(make_config, run_cli):
    config = make_config(extra=source_toml("reg", "https://example.org/", kind="htlm"))
    result = run_cli(config, "check")
    assert result.exit_code == 3 and "did you mean 'html'" in result.output


# -- press corner --------------------------------------------------------------------------

SEARCH = {
    "numFound": 3,
    "docuLanguageListResources": [
        {
            "refCode": "IP/24/1234",
            "title": "Commission looks into Microsoft's investment in Mistral AI",
            "leadText": "The Commission has received information.",
            "eventDate": "2024-02-27",
            "docutype": {"code": "IP", "description": "Press release"},
            "languageCode": "EN",
        },
        {
            "refCode": "STATEMENT/24/99",
            "title": "Statement on generative AI",
            "leadText": "A statement.",
            "eventDate": "2024-02-26",
            "docutype": {"code": "STATEMENT", "description": "Statement"},
            "languageCode": "EN",
        },
        {
            "refCode": "MEX/24/7",
            "title": "Daily news",
            "leadText": "Midday express.",
            "eventDate": "2024-02-26",
            "docutype": {"code": "MEX", "description": "Daily News"},
            "languageCode": "EN",
        },
    ],
}


def document(reference, html):
    return json.dumps({"docuLanguageResource": {"reference": reference, "htmlContent": html}})


def test_presscorner_items_carry_reference_and_match_on_the_document(
    feed_server, make_config, run_cli
):
    feed_server.routes[
        "/presscorner/api/search?language=en&pagesize=50&pagenumber=1&documentTypeCodes=IP%2CSTATEMENT"
    ] = {
        "body": json.dumps(SEARCH),
        "ctype": "application/json",
    }
    feed_server.routes["/presscorner/api/documents?reference=IP/24/1234&language=en"] = {
        "body": document(
            "IP/24/1234", "<div><p>The deal between Microsoft and <b>Mistral</b> AI.</p></div>"
        ),
        "ctype": "application/json",
    }
    feed_server.routes["/presscorner/api/documents?reference=STATEMENT/24/99&language=en"] = {
        "body": document("STATEMENT/24/99", "<p>OpenAI <script>Microsoft</script> board.</p>"),
        "ctype": "application/json",
    }
    config = make_config(
        extra=source_toml(
            "presscorner",
            feed_server.url("/presscorner/api"),
            kind="presscorner",
            document_types=["ip", "statement"],
        )
    )

    result = poll(config)["presscorner"]
    assert result.status == "ok", result.error
    items = items_of(config, "presscorner")
    assert [json.loads(i["extra"]) for i in items] == [
        {"reference": "IP/24/1234", "type": "IP", "language": "en"},
        {"reference": "STATEMENT/24/99", "type": "STATEMENT", "language": "en"},
    ]  # MEX is not a wanted document type
    assert items[0]["link"] == feed_server.url("/presscorner/detail/en/ip_24_1234")
    assert items[0]["published"] == "2024-02-27T00:00:00+00:00"
    hits = json.loads(run_cli(config, "hits", "--format", "json").output)
    assert {(h["entity"], h["link"].rsplit("/", 1)[1]) for h in hits} == {
        ("Microsoft", "ip_24_1234"),
        ("Mistral AI", "ip_24_1234"),  # "Mistral</b> AI" only in the document's htmlContent
        ("OpenAI", "statement_24_99"),  # the script's "Microsoft" is not text
    }

    # Second poll, one new document: only it is fetched.
    SEARCH2 = dict(SEARCH)
    SEARCH2["docuLanguageListResources"] = [
        {
            "refCode": "IP/24/2000",
            "title": "New",
            "docutype": {"code": "IP"},
            "eventDate": "2024-03-01",
        },
        *SEARCH["docuLanguageListResources"],
    ]
    feed_server.routes[
        "/presscorner/api/search?language=en&pagesize=50&pagenumber=1&documentTypeCodes=IP%2CSTATEMENT"
    ]["body"] = json.dumps(SEARCH2)
    before = len(feed_server.requests)
    assert poll(config)["presscorner"].new_items == 1
    fetched = [r["path"] for r in feed_server.requests[before:]]
    assert [p for p in fetched if "/documents" in p] == [
        "/presscorner/api/documents?reference=IP/24/2000&language=en"
    ]  # a missing document (404) falls back to the lead text, the item is kept
    assert items_of(config, "presscorner")[-1]["title"] == "New"


def test_presscorner_answer_without_documents_is_a_clear_error(feed_server, make_config):
    feed_server.routes["/api/search?language=fr&pagesize=50&pagenumber=1"] = {
        "body": json.dumps({"error": "maintenance"}),
        "ctype": "application/json",
    }
    feed_server.routes["/api/search?language=en&pagesize=50&pagenumber=1"] = {
        "body": "<html>maintenance</html>",
        "ctype": "text/html",
    }
    config = make_config(
        extra=source_toml(
            "pc-fr", feed_server.url("/api/search"), kind="presscorner", language="fr"
        )
        + source_toml("pc-en", feed_server.url("/api"), kind="presscorner")
    )
    results = poll(config)
    assert "no list of documents" in results["pc-fr"].error
    assert "not JSON" in results["pc-en"].error


# -- full text -------------------------------------------------------------------------------

ARTICLE = (
    "<html><body><header>Menu: OpenAI news</header><nav>Microsoft</nav>"
    "<article><h1>Competition</h1><p>The authority also examined Mistral AI's role.</p></article>"
    "<footer>Microsoft sponsors this site</footer><script>var x='OpenAI'</script></body></html>"
)


def test_full_text_matches_on_the_article_main_text_only(feed_server, make_config):
    feed_server.routes["/article"] = {"body": ARTICLE, "ctype": "text/html; charset=utf-8"}
    feed_server.routes["/broken"] = {"status": 500, "body": "oops"}
    feed_server.routes["/feed.xml"] = {
        "body": rss(
            [
                {
                    "title": "Competition news",
                    "link": feed_server.url("/article"),
                    "html": "Short.",
                },
                {
                    "title": "Other news",
                    "link": feed_server.url("/broken"),
                    "html": "Summary on Microsoft.",
                },
            ]
        )
    }
    config = make_config(
        extra=source_toml("news", feed_server.url("/feed.xml"), full_text=True, allow_private=True)
    )
    result = poll(config)["news"]
    assert result.status == "ok", result.error
    assert {(i.title, m.entity, m.field) for i, m in result.hits} == {
        ("Competition news", "Mistral AI", "text"),  # found in the article only
        ("Other news", "Microsoft", "text"),  # the article failed: the summary still counts
    }
    snippet = next(m.snippet for _, m in result.hits if m.entity == "Mistral AI")
    assert "examined Mistral AI" in snippet
    text = items_of(config, "news")[0]["text"]
    assert "Menu" not in text and "sponsors" not in text and "var x" not in text

    before = len(feed_server.hits_on("/article"))
    poll(config, force=True)  # unchanged feed, no new item: no article fetch
    assert len(feed_server.hits_on("/article")) == before


def test_full_text_refuses_private_addresses_by_default(feed_server, make_config, caplog):
    feed_server.routes["/article"] = {"body": ARTICLE, "ctype": "text/html"}
    feed_server.routes["/feed.xml"] = {
        "body": rss([{"title": "News", "link": feed_server.url("/article"), "html": "Short."}])
    }
    config = make_config(extra=source_toml("news", feed_server.url("/feed.xml"), full_text=True))
    caplog.set_level("INFO")
    result = poll(config)["news"]
    assert result.status == "ok" and result.hits == []
    assert feed_server.hits_on("/article") == []  # never connected
    assert "127.0.0.1 is a loopback address" in caplog.text
    assert items_of(config, "news")[0]["text"] == "Short."


def test_a_failing_full_text_fetch_stays_with_its_item(feed_server, make_config, caplog):
    """Issue 15.1: an unparsable link, a refused address, a timeout and an oversized page
    each leave their item with its summary; the source and its other items are stored."""
    import threading

    release = threading.Event()

    def hang(handler):
        release.wait(30)  # answers nothing until the test is over: the fetch times out

    feed_server.routes["/article"] = {"body": ARTICLE, "ctype": "text/html"}
    feed_server.routes["/big"] = {"body": "<p>" + "x" * 100_000 + "</p>", "ctype": "text/html"}
    feed_server.routes["/hang"] = {"handler": hang}
    links = {
        "Good": feed_server.url("/article"),
        "Octal": "http://0177.0.0.1:8080/",
        "Broken port": "http://[::1/",
        "Slow": feed_server.url("/hang"),
        "Big": feed_server.url("/big"),
    }
    feed_server.routes["/feed.xml"] = {
        "body": rss([{"title": t, "link": u, "html": f"{t} summary."} for t, u in links.items()])
    }
    config = make_config(
        extra=source_toml("news", feed_server.url("/feed.xml"), full_text=True, allow_private=True),
        defaults='timeout = "1s"\nmin_interval = "1s"\nmax_bytes = 50000\nworkers = 0',
    )
    caplog.set_level("INFO")
    try:
        result = poll(config)["news"]
    finally:
        release.set()
    assert result.status == "ok", result.error
    assert result.new_items == len(links)
    texts = {row["title"]: row["text"] for row in items_of(config, "news")}
    assert "Mistral AI" in texts["Good"]
    for title in ("Octal", "Broken port", "Slow", "Big"):
        assert texts[title] == f"{title} summary.", title
    assert "not a usable URL" in caplog.text and "keeping the summary" in caplog.text
    assert "Traceback" not in caplog.text and "internal error" not in caplog.text


def test_presscorner_items_take_the_time_of_publish_date(feed_server, make_config):
    """Issue 15.8: eventDate is a day (every item of the day ties at midnight); publishDate,
    in the listing or in the document, gives the time, and orders the day's items."""
    search = {
        "docuLanguageListResources": [
            {
                "refCode": "IP/24/3",
                "title": "Afternoon release",
                "eventDate": "2024-02-27",
                "publishDate": "2024-02-27T15:45:00.000+0100",
                "docutype": {"code": "IP"},
            },
            {
                "refCode": "IP/24/2",
                "title": "Morning release",
                "eventDate": "2024-02-27",
                "docutype": {"code": "IP"},
            },
            {"refCode": "IP/24/1", "title": "Undated time", "eventDate": "2024-02-26"},
        ]
    }
    feed_server.routes["/api/search?language=en&pagesize=50&pagenumber=1"] = {
        "body": json.dumps(search),
        "ctype": "application/json",
    }
    feed_server.routes["/api/documents?reference=IP/24/2&language=en"] = {
        "body": json.dumps(
            {
                "docuLanguageResource": {"htmlContent": "<p>Morning.</p>"},
                "publishDate": "2024-02-27T09:05:00Z",
            }
        ),
        "ctype": "application/json",
    }
    config = make_config(extra=source_toml("pc", feed_server.url("/api"), kind="presscorner"))
    assert poll(config)["pc"].status == "ok"
    published = {row["title"]: row["published"] for row in items_of(config, "pc")}
    assert published == {
        "Afternoon release": "2024-02-27T14:45:00+00:00",  # from the listing
        "Morning release": "2024-02-27T09:05:00+00:00",  # from its document
        "Undated time": "2024-02-26T00:00:00+00:00",  # eventDate, when nothing better
    }
