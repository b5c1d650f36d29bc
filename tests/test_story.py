"""One alert per story: copies of the same news from several sources are clustered."""

from __future__ import annotations

import json

import pytest
from conftest import rss

from watcher.model import Item
from watcher.store import Store
from watcher.story import canonical_url, commission_refs, normalise_title


@pytest.mark.parametrize(
    "url, canonical",
    [
        (
            "https://EC.Europa.EU/press/IP_24_1?utm_source=rss&utm_medium=x",
            "ec.europa.eu/press/IP_24_1",
        ),
        ("http://news.example/a/?b=2&fbclid=X&a=1#comments", "news.example/a?a=1&b=2"),
        ("https://news.example:443/a?gclid=1", "news.example/a"),
        ("https://news.example:8443/a", "news.example:8443/a"),
        ("not a url", None),
    ],
    ids=["utm", "fbclid-fragment-order", "default-port", "other-port", "junk"],
)
@pytest.mark.one_store
def test_canonical_url(url, canonical):
    assert canonical_url(url) == canonical


@pytest.mark.one_store
def test_commission_references():
    link = "https://ec.europa.eu/commission/presscorner/detail/fr/ip_24_1234"
    assert commission_refs("Titre", link, "") == {"IP/24/1234"}
    assert commission_refs("Antitrust (IP/24/1234)", None, "") == {"IP/24/1234"}
    assert commission_refs("x", None, "See IP/24/0099 for details") == {"IP/24/99"}
    # A text citing several references is not identified by any of them.
    assert commission_refs("x", None, "after IP/23/1 and MEMO/23/2") == set()


@pytest.mark.one_store
def test_normalised_titles_ignore_case_accents_and_punctuation():
    assert normalise_title("La Commission «examine» l’accord — ÉTÉ!") == (
        "la commission examine l accord ete"
    )


def test_similar_titles_cluster_only_within_the_window(database):
    store = Store(database)

    def story(title: str, when: str, link: str) -> int:
        item = Item(key=link, title=title, link=link, published=when)
        with store.writing("a story"):
            return store.assign_story(item, when, 48 * 3600)

    first = story(
        "Commission fines Microsoft EUR 500 million", "2024-03-01T10:00:00+00:00", "https://a/1"
    )
    assert (
        story("Commission fines Microsoft €500 million", "2024-03-02T09:00:00+00:00", "https://b/2")
        == first
    )
    assert (
        story(
            "Commission fines Microsoft EUR 500 million", "2024-03-05T10:00:00+00:00", "https://c/3"
        )
        != first
    )
    assert (
        story("Council adopts position on AI Act", "2024-03-01T11:00:00+00:00", "https://d/4")
        != first
    )
    daily = story("Daily News 12/03/2024 Commission", "2024-03-01T11:00:00+00:00", "https://g/7")
    assert (
        story("Daily News 13/03/2024 Commission", "2024-03-01T12:00:00+00:00", "https://h/8")
        != daily
    )
    assert story("Press release", "2024-03-01T11:00:00+00:00", "https://e/5") != story(
        "Press release", "2024-03-01T11:00:00+00:00", "https://f/6"
    )  # too short to identify a story


def test_titles_stored_before_the_title_index_still_cluster(database):
    store = Store(database)
    when = "2024-03-01T10:00:00+00:00"
    item = Item(
        key="a",
        title="Commission fines Microsoft EUR 500 million",
        link="https://a/1",
        published=when,
    )
    with store.writing("a story"):
        first = store.assign_story(item, when, 48 * 3600)
    # As a database from before migration 060: no title index yet.
    store.engine.execute("DROP TABLE story_title_words")
    store.engine.execute("DELETE FROM _migrations WHERE name = '060_story_title_words'")
    store.close()
    store = Store(database)  # migrates: the index is built from the stored title keys
    copy = Item(
        key="b", title="Commission fines Microsoft €500 million", link="https://b/2", published=when
    )
    with store.writing("a story"):
        assert store.assign_story(copy, when, 48 * 3600) == first


PRESS = "https://ec.europa.eu/commission/presscorner/detail"
STORY = {
    "commission": {
        "title": "Commission fines Microsoft EUR 500 million for tying Teams",
        "link": f"{PRESS}/en/ip_24_1234?utm_source=rss",
    },
    "commission-fr": {
        "title": "La Commission inflige une amende de 500 millions d'euros à Microsoft",
        "link": f"{PRESS}/fr/ip_24_1234",
    },
    "dg-comp": {
        "title": "Antitrust: decision in case AT.40721 (Microsoft Teams)",
        "link": "https://competition-policy.ec.europa.eu/cases/at40721",
        "html": "<p>Microsoft fined. Press release IP/24/1234.</p>",
    },
    "wire": {
        "title": "Commission fines Microsoft EUR 500 million for tying Teams.",
        "link": "https://wire.example/story/123#top",
    },
}


def test_same_story_from_several_sources_is_one_alert_listing_them(
    feed_server, receiver, make_config, run_cli
):
    extra = ""
    for name, item in STORY.items():
        feed_server.routes[f"/{name}.xml"] = {"body": rss([item])}
        extra += f'[[sources]]\nname = "{name}"\nurl = "{feed_server.url(f"/{name}.xml")}"\n'
        extra += "alert_first_poll = true\n"
    extra += f'[[channels]]\nname = "hook"\nurl = "{receiver.json_url}"\n'
    # Which copy opens the story depends on the order the sources are stored in (a French
    # title stored before any copy with the reference would open a story of its own):
    # concurrency 1 polls and stores them one after the other, in the config's order.
    config = make_config(extra=extra, defaults='timeout = "5s"\nconcurrency = 1')
    assert run_cli(config, "poll").exit_code == 0

    assert len(receiver.posts) == 1
    message = receiver.posts[0]["message"]
    for other in ("commission-fr", "dg-comp", "wire"):  # every copy is listed...
        assert other in message
    assert "story #" in message

    hits = json.loads(run_cli(config, "hits", "--format", "json").output)
    assert len(hits) == 4 and len({h["story"] for h in hits}) == 1  # ...one row per hit
    stories = json.loads(run_cli(config, "hits", "--stories", "--format", "json").output)
    assert len(stories) == 1
    assert stories[0]["sources"] == sorted(STORY) and stories[0]["items"] == 4
    table = run_cli(config, "hits", "--stories", "--format", "csv").output
    assert "commission, commission-fr, dg-comp, wire" in table

    # A later copy joins the story: recorded as merged, not alerted again.
    wire2 = {
        "title": "Microsoft hit with EUR 500m EU fine (IP/24/1234)",
        "link": "https://wire.example/2",
    }
    feed_server.routes["/wire.xml"] = {"body": rss([wire2, STORY["wire"]])}
    assert run_cli(config, "poll").exit_code == 0
    assert len(receiver.posts) == 1
    merged = json.loads(
        run_cli(config, "deliveries", "--status", "merged", "--format", "json").output
    )
    assert len(merged) == 4  # the three copies of the first poll and the new one
    assert merged[0]["title"] == wire2["title"]
    assert (
        json.loads(run_cli(config, "hits", "--stories", "--format", "json").output)[0]["items"] == 5
    )


def test_each_entity_of_a_story_is_alerted_once(feed_server, receiver, make_config, run_cli):
    items = {
        "a": {
            "title": "Microsoft and OpenAI partnership reviewed by EU",
            "link": "https://a.example/1",
        },
        "b": {
            "title": "Microsoft and OpenAI partnership reviewed by EU",
            "link": "https://b.example/9",
        },
    }
    extra = ""
    for name, item in items.items():
        feed_server.routes[f"/{name}.xml"] = {"body": rss([item])}
        extra += f'[[sources]]\nname = "{name}"\nurl = "{feed_server.url(f"/{name}.xml")}"\n'
        extra += "alert_first_poll = true\n"
    extra += f'[[channels]]\nname = "hook"\nurl = "{receiver.json_url}"\n'
    config = make_config(extra=extra)
    assert run_cli(config, "poll").exit_code == 0
    # One message (the first copy, naming both entities); the other copy's hits merged.
    assert [p["title"].split(":")[0] for p in receiver.posts] == ["[regwatch] Microsoft, OpenAI"]
