"""Message formats and templates: hostile feed text arrives inert on every kind of channel."""

from __future__ import annotations

import html
import re
import urllib.parse

import pytest
from conftest import rss

from watcher.alert.format import MARKS, Style, display_zone, mark_words, readable_date
from watcher.config.model import Channel

HOSTILE = (
    "<!channel> Microsoft <@U123ABC> <https://evil.example/x|click me> @here "
    "[win](https://evil.example/md) <script>alert(1)</script> **bold** $hit_id ${entity} {0}"
)


def hostile_feed(feed_server, title: str = HOSTILE) -> str:
    feed_server.routes["/eu.xml"] = {
        "body": rss(
            [
                {
                    "title": title,
                    "link": "https://ec.example.eu/press/1",
                    "html": "<p>Summary: <!here> <@W999> @channel and <b>Microsoft</b></p>",
                }
            ]
        )
    }
    return feed_server.url("/eu.xml")


def source(url: str) -> str:
    return f'[[sources]]\nname = "eu"\nurl = "{url}"\nalert_first_poll = true\n'


def channel(name: str, url: str, **keys: str) -> str:
    extra = "".join(f"{k} = {v}\n" for k, v in keys.items())
    return f'[[channels]]\nname = "{name}"\nurl = "{url}"\n{extra}'


def test_slack_markup_from_feed_text_is_inert_on_mattermost(
    feed_server, receiver, make_config, run_cli
):
    url = hostile_feed(feed_server)
    config = make_config(extra=source(url) + channel("mm", receiver.mmost_url))
    result = run_cli(config, "poll")
    assert result.exit_code == 0, result.output
    assert len(receiver.posts) == 1
    text = receiver.posts[0]["text"]
    assert receiver.posts[0]["_path"] == "/hooks/tok3n"
    assert "Microsoft" in text and "regwatch hit #1" in text
    assert not re.search(r"<[!@#]", text)  # no <!channel>, <!here>, <@U123ABC>
    assert not re.search(r"<https?://[^>]*\|", text)  # no <url|text> link
    assert not re.search(r"@(here|channel|all|everyone)\b", text)  # no native mentions
    assert "](https://evil.example" not in text  # no markdown link
    assert "<script" not in text


def test_html_channels_escape_feed_text(feed_server, receiver, smtp_server, make_config, run_cli):
    url = hostile_feed(feed_server)
    config = make_config(
        extra=source(url)
        + channel("hook", receiver.json_url, format='"html"', raw="true")
        + channel("mail", smtp_server.url(), format='"html"')
    )
    assert run_cli(config, "poll").exit_code == 0
    message = receiver.posts[0]["message"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message
    assert "<script" not in message and "<!channel>" not in message
    assert '<a href="https://ec.example.eu/press/1"' in message  # our own markup stays live
    part = smtp_server.messages[0].get_body(preferencelist=("html",))
    mail = part.get_content()
    assert part.get_content_type() == "text/html"
    assert "<script>" not in mail and "&lt;script&gt;" in mail


LIVE = [
    (r"<[!@#]", "a <!channel>, <!here> or <@U123ABC>"),
    (r"<https?://[^>]*\|", "a <url|text> chat link"),
    (r"@(here|channel|all|everyone)\b", "a native mention"),
    (r"<script", "a script tag"),
    (r"<b>", "an HTML tag"),
]


def live_markup(text: str) -> list[str]:
    return [what for pattern, what in LIVE if re.search(pattern, text)]


@pytest.mark.parametrize("scheme", ["json", "xml", "form"])
@pytest.mark.parametrize("fmt", ["text", "html"])
def test_generic_webhooks_get_feed_text_defused(
    feed_server, receiver, make_config, run_cli, scheme, fmt
):
    url = hostile_feed(feed_server)
    hook = f"{scheme}://127.0.0.1:{receiver.port}/hook"
    config = make_config(extra=source(url) + channel("hook", hook, format=f'"{fmt}"'))
    assert run_cli(config, "poll").exit_code == 0
    post = receiver.posts[0]
    if scheme == "json":
        text = post["title"] + "\n" + post["message"]
    elif scheme == "xml":  # the SOAP envelope escapes once for XML: read it as XML does
        text = html.unescape(post["raw"])
    else:
        fields = urllib.parse.parse_qs(post["raw"])
        text = fields["title"][0] + "\n" + fields["message"][0]
    if fmt == "html":  # what a browser shows: one more level of entities
        text = html.unescape(re.sub(r"</?(a|b|br|blockquote|small)\b[^>]*>", " ", text))
    assert "Microsoft" in text and "regwatch hit #1" in text
    assert live_markup(text) == []
    assert "\u2039script\u203a" in text  # still readable: look-alike brackets


def test_raw_webhook_gets_feed_text_as_written(feed_server, receiver, make_config, run_cli):
    url = hostile_feed(feed_server)
    config = make_config(extra=source(url) + channel("hook", receiver.json_url, raw="true"))
    assert run_cli(config, "poll").exit_code == 0
    post = receiver.posts[0]
    assert HOSTILE in post["title"] and HOSTILE in post["message"]
    assert "<@W999> @channel" in post["message"]  # the snippet too


def test_raw_on_a_channel_that_is_not_a_webhook_is_a_config_error(
    make_config, run_cli, smtp_server
):
    config = make_config(
        extra=source("https://eu.example/feed") + channel("mail", smtp_server.url(), raw="true")
    )
    result = run_cli(config, "check")
    assert result.exit_code == 3
    assert "channels[0].raw: only a json://, xml:// or form:// webhook" in result.output


def test_html_email_subject_is_plain_text_and_body_escaped(
    feed_server, smtp_server, make_config, run_cli
):
    title = "Commission looks into Microsoft's <script>x</script> & EUR 15 million"
    url = hostile_feed(feed_server, title=title)
    config = make_config(extra=source(url) + channel("mail", smtp_server.url(), format='"html"'))
    assert run_cli(config, "poll").exit_code == 0
    mail = smtp_server.messages[0]
    assert mail["Subject"] == f"[regwatch] Microsoft: {title}"
    body = mail.get_body(preferencelist=("html",)).get_content()
    assert "Microsoft&#x27;s &lt;script&gt;x&lt;/script&gt; &amp; EUR" in body
    assert "<script>" not in body


def test_markdown_channels_escape_feed_text(feed_server, receiver, make_config, run_cli):
    url = hostile_feed(feed_server)
    config = make_config(extra=source(url) + channel("md", receiver.json_url, format='"markdown"'))
    assert run_cli(config, "poll").exit_code == 0
    message = receiver.posts[0]["message"]
    assert r"\[win\]\(https://evil" in message and r"\*\*bold\*\*" in message
    assert "[win](" not in message


def test_templates_fill_fields_and_never_read_feed_text_as_a_template(
    feed_server, receiver, make_config, run_cli
):
    url = hostile_feed(feed_server, title="Microsoft $hit_id ${entity} {0} $$ $")
    config = make_config(
        extra=source(url)
        + channel(
            "hook",
            receiver.json_url,
            title='"$entity | $title"',
            body='"From $source: $title <$link> costs $$5 [$topics]"',
        )
    )
    assert run_cli(config, "poll").exit_code == 0
    post = receiver.posts[0]
    assert post["title"] == "Microsoft | Microsoft $hit_id ${entity} {0} $$ $"
    assert post["message"].startswith(
        "From eu: Microsoft $hit_id ${entity} {0} $$ $ <https://ec.example.eu/press/1> costs $5 []"
    )
    assert post["message"].endswith("regwatch hit #1")  # added: the body has no $hit_id


def test_long_titles_are_trimmed(feed_server, receiver, make_config, run_cli):
    url = hostile_feed(feed_server, title="Microsoft " + "very long title " * 40)
    config = make_config(extra=source(url) + channel("hook", receiver.json_url))
    assert run_cli(config, "poll").exit_code == 0
    title = receiver.posts[0]["title"]
    assert len(title) == 250 and title.endswith("…")


@pytest.mark.parametrize(
    "keys, message",
    [
        ({"title": '"$titel"'}, "channels[0].title: unknown field $titel"),
        ({"body": '"costs $"'}, "channels[0].body: invalid placeholder"),
        ({"body": '"${entity"'}, "channels[0].body: invalid placeholder"),
        ({"digest": '"daily 8am"'}, "channels[0].digest: 'daily 8am' is not a digest schedule"),
        ({"digest": '"weekly xyz 08:00"'}, "channels[0].digest: 'xyz' is not a day"),
        ({"digest": '"daily 25:00"'}, "is not a time of day"),
        ({"timezone": '"Mars/Olympus"'}, "channels[0].timezone: unknown time zone"),
        ({"sources": '["ue"]'}, "channels[0].sources: unknown source 'ue'"),
        ({"health": '"yes"'}, "channels[0].health: must be true or false"),
    ],
    ids=["field", "dollar", "brace", "digest", "day", "time", "zone", "source", "health"],
)
def test_channel_mistakes_are_config_errors(make_config, run_cli, receiver, keys, message):
    config = make_config(
        extra=source("https://eu.example/feed") + channel("hook", receiver.json_url, **keys)
    )
    result = run_cli(config, "check")
    assert result.exit_code == 3
    assert message in result.output


def test_delivery_table_is_validated(make_config, run_cli):
    bad = make_config(extra='[delivery]\nretry_base = "soon"\n')
    assert "delivery.retry_base" in run_cli(bad, "check").output
    typo = make_config(extra="[delivery]\nmax_attempt = 3\n")
    out = run_cli(typo, "check").output
    assert "delivery.max_attempt: unknown key" in out and "max_attempts" in out


@pytest.mark.parametrize(
    "fmt, url, expected",
    [
        (
            "html",
            "mailto://x",
            "&lt;b&gt;<mark {style}>Microsoft</mark>&lt;/b&gt; and <mark {style}>MICROSOFT</mark>",
        ),
        ("markdown", "json://x", "‹b›**Microsoft**‹/b› and **MICROSOFT**"),
        ("text", "mailto://x", "<b>«Microsoft»</b> and «MICROSOFT»"),
        ("text", "json://x", "‹b›«Microsoft»‹/b› and «MICROSOFT»"),
    ],
    ids=["html", "markdown-webhook", "text-mail", "text-webhook"],
)
def test_matched_words_are_marked_after_escaping(fmt, url, expected):
    style = Style.of(Channel("c", url, format=fmt))
    marked = mark_words("<b>Microsoft</b> and MICROSOFT", ["Microsoft"], style)
    assert marked == expected.format(style=MARKS["html"][0][len("<mark ") : -1])


@pytest.mark.parametrize(
    "value, zone, expected",
    [
        ("2024-02-26T10:00:00+00:00", "Europe/Brussels", "26 Feb 2024, 11:00 CET"),
        ("2024-07-01T10:00:00+00:00", "Europe/Brussels", "1 Jul 2024, 12:00 CEST"),
        ("2024-02-26T10:00:00+00:00", None, "26 Feb 2024, 10:00 UTC"),  # the suite's TZ
        ("2024-02-26T10:00:00", None, "26 Feb 2024, 10:00 UTC"),
        ("last Tuesday", None, "last Tuesday"),
        (None, None, "unknown"),
    ],
    ids=["winter", "summer", "utc-default", "naive", "unreadable", "none"],
)
def test_dates_are_written_for_people_in_the_channels_zone(value, zone, expected):
    channel = Channel("c", "json://x", timezone=zone)
    assert readable_date(value, display_zone(channel)) == expected


def test_a_channel_without_timezone_writes_dates_in_the_machines_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Rome")
    channel = Channel("c", "json://x")
    assert readable_date("2024-02-26T10:00:00+00:00", display_zone(channel)) == (
        "26 Feb 2024, 11:00 CET"
    )
