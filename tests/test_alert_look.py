"""What a person sees: the HTML alert email rendered in headless Chromium, and its plain part.

One item naming Microsoft and Mistral AI goes to an HTML email channel in Europe/Brussels.
The email's HTML part is opened in Chromium (as a mail client would show it), a screenshot
is saved next to the test's files, and the test asserts what a reader notices: one
message, the title as a link, both entities named, the matched words marked, a readable
date. The plain-text part must read well on its own. Skipped, with the reason, where
Chromium, its driver or Selenium is missing.
"""

from __future__ import annotations

import re

import pytest
from conftest import rss

TITLE = "Commission looks into Microsoft's EUR 15 million investment in Mistral AI"
LINK = "https://ec.europa.eu/commission/presscorner/detail/en/ip_24_1"
SUMMARY = (
    "<p>The European Commission is analysing the agreement between Microsoft and Mistral AI "
    "after the &lt;script&gt;alert(1)&lt;/script&gt; announcement.</p>"
)
DATE = "26 Feb 2024, 11:00 CET"  # Mon, 26 Feb 2024 10:00:00 +0000 in Brussels


@pytest.fixture
def alert_email(feed_server, smtp_server, make_config, run_cli):
    """The one email an item naming two entities sends to an HTML channel in Brussels."""
    feed_server.routes["/eu.xml"] = {"body": rss([{"title": TITLE, "link": LINK, "html": SUMMARY}])}
    config = make_config(
        extra=f'[[sources]]\nname = "commission"\nurl = "{feed_server.url("/eu.xml")}"\n'
        "alert_first_poll = true\n"
        f'[[channels]]\nname = "legal"\nurl = "{smtp_server.url()}"\nformat = "html"\n'
        'timezone = "Europe/Brussels"\n'
    )
    result = run_cli(config, "poll")
    assert result.exit_code == 0, result.output
    assert len(smtp_server.messages) == 1  # one email for the item, not one per entity
    return smtp_server.messages[0]


def test_html_alert_reads_well_in_a_browser(alert_email, browser, tmp_path):
    from selenium.webdriver.common.by import By

    assert alert_email["Subject"] == f"[regwatch] Microsoft, Mistral AI: {TITLE}"
    page = tmp_path / "alert.html"
    page.write_text(alert_email.get_body(preferencelist=("html",)).get_content(), "utf-8")
    browser.set_window_size(900, 700)
    browser.get(page.as_uri())
    shot = tmp_path / "alert.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")

    links = browser.find_elements(By.TAG_NAME, "a")
    assert [(a.text, a.get_attribute("href")) for a in links][0] == (TITLE, LINK)
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Entities: Microsoft (matched “Microsoft”), Mistral AI (matched “Mistral AI”)" in text
    marks = [m.text for m in browser.find_elements(By.TAG_NAME, "mark")]
    assert marks == ["Microsoft", "Mistral AI"]
    mark_colour = browser.find_element(By.TAG_NAME, "mark").value_of_css_property(
        "background-color"
    )
    assert mark_colour == "rgba(255, 224, 102, 1)"  # highlighted, not the default look
    assert DATE in text and "2024-02-26T" not in text
    assert "<script>alert(1)</script>" in text  # feed text shown as text, never run
    assert browser.find_elements(By.TAG_NAME, "script") == []
    assert "regwatch hit #1, #2, story #1" in text


def test_plain_text_part_reads_well_alone(alert_email):
    plain = alert_email.get_body(preferencelist=("plain",)).get_content()
    assert not re.search(r"<(a|p|div|mark|b|blockquote)\b", plain)
    for words in (TITLE, "Mistral AI", DATE, "commission", LINK, "regwatch hit #1, #2"):
        assert words in plain, plain
