"""The web view in a real browser: headless Chromium (Debian's) driven by Selenium.

Starts `regwatch serve` as a real process over a database of known hits: loads Datasette's
hits table, searches, applies an entity facet and saves a screenshot; signs in to the
reviewer's pages and marks a hit actioned, which `regwatch hits --status actioned` then
shows. On both stores: over PostgreSQL Datasette reads a copy (refreshed on demand) and the
reviewer's pages PostgreSQL itself. Skipped, with the reason, where Chromium, its driver,
Selenium or Datasette is missing: never passed silently.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port, wait_until

from watcher.model import Item, Mention
from watcher.store import Store

pytestmark = pytest.mark.usefixtures("backend")


def _responds(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture
def server(hit_config: Path, tmp_path: Path) -> Iterator[str]:
    """`regwatch serve` on a free loopback port, with one reviewer account; its base URL."""
    pytest.importorskip("datasette", reason="the web extra is not installed: pip install '.[web]'")
    from watcher.passwords import hash_password

    with hit_config.open("a", encoding="utf-8") as f:
        hashed = hash_password("correct horse", iterations=1000)
        f.write(f'\n[web]\n[[web.accounts]]\nname = "alice"\npassword_hash = "{hashed}"\n')
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "watcher",
            "--config",
            str(hit_config),
            "serve",
            "--port",
            str(port),
            "--snapshot",  # used over PostgreSQL only
            str(tmp_path / "copy" / "regwatch.db"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: _responds(base + "/-/versions.json") or proc.poll() is not None,
            timeout=30,
            what="regwatch serve to answer",
        )
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def rows_shown(driver) -> list[dict[str, str]]:
    from selenium.webdriver.common.by import By

    out = []
    for tr in driver.find_elements(By.CSS_SELECTOR, "table.rows-and-columns tbody tr"):
        cells = tr.find_elements(By.CSS_SELECTOR, "td")
        out.append({c.get_attribute("class").split()[0][4:]: c.text for c in cells})
    return out


def test_hits_page_search_and_entity_facet_in_chromium(server, browser, tmp_path, database):
    from selenium.webdriver.common.by import By

    browser.get(server + "/regwatch/latest_hits")
    assert browser.find_element(By.CSS_SELECTOR, "h1").text.startswith("Latest hits")
    assert len(rows_shown(browser)) == 5
    link = browser.find_element(By.LINK_TEXT, "Die Kommission prüft die Beteiligung von Microsoft")
    assert link.get_attribute("href") == "https://spiegel.example.org/de1"
    marks = [m.text for m in browser.find_elements(By.CSS_SELECTOR, "td.col-snippet mark")]
    assert sorted(marks) == ["Microsoft", "Microsoft", "Mistral AI", "Mistral AI", "OpenAI"]

    box = browser.find_element(By.CSS_SELECTOR, "input[name=_search]")
    box.send_keys("commission")
    box.submit()
    wait_until(lambda: "_search=commission" in browser.current_url, what="the search")
    assert sorted(r["entity"] for r in rows_shown(browser)) == ["Microsoft", "Mistral AI", "OpenAI"]

    facet = browser.find_element(
        By.CSS_SELECTOR, '.facet-info[data-column="entity"] a[href*="entity=Microsoft"]'
    )
    facet.click()
    wait_until(lambda: "entity=Microsoft" in browser.current_url, what="the entity facet")
    shown = rows_shown(browser)
    assert [(r["entity"], r["source"]) for r in shown] == [("Microsoft", "ec")]
    assert shown[0]["title"].startswith("Commission opens in-depth investigation")

    shot = tmp_path / "latest-hits-microsoft.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000

    # The trends page draws one chart per entity.
    browser.get(server + "/-/stats?since=2024-01-01&until=2024-03-31&every=week")
    charts = browser.find_elements(By.CSS_SELECTOR, ".rw-chart")
    assert [c.text.split(" — ")[0] for c in charts] == ["Microsoft", "Mistral AI", "OpenAI"]
    assert all(c.find_element(By.TAG_NAME, "svg").is_displayed() for c in charts)
    shot = tmp_path / "trends.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 5_000

    if database.startswith("postgresql://"):
        # A new hit in PostgreSQL shows in Datasette's pages once the copy is refreshed.
        store = Store(database)
        state = store.source_state("ec", "https://ec.example.org/feed")
        item = Item("ec9", "Microsoft appeals", "https://ec.example.org/ec9", None)
        mention = Mention("Microsoft", "Microsoft", "title", 0, 9, "Microsoft appeals")
        store.save_poll(state, [item], [(item, mention)], lambda m: [], alert=True, http_status=200)
        browser.get(server + "/regwatch/latest_hits")
        browser.find_element(By.LINK_TEXT, "refresh now").click()
        wait_until(lambda: len(rows_shown(browser)) == 6, what="the new hit after a refresh")
        assert "Microsoft appeals" in [r["title"] for r in rows_shown(browser)]


def test_sign_in_and_mark_a_hit_actioned_in_chromium(server, browser, hit_config, tmp_path):
    import json

    from selenium.webdriver.common.by import By

    browser.get(server + "/")
    wait_until(lambda: browser.current_url.endswith("/-/hits"), what="the hit list")
    assert len(browser.find_elements(By.CSS_SELECTOR, ".rw-hit")) == 5
    assert not browser.find_elements(By.CSS_SELECTOR, "form.rw-review")  # not signed in
    # Dates are shown in the browser's time zone, the UTC value kept in the title.
    when = browser.find_element(By.CSS_SELECTOR, ".rw-hit time")
    assert when.get_attribute("title").endswith("(UTC)")

    browser.find_element(By.LINK_TEXT, "Sign in to review").click()
    (name,) = wait_until(lambda: browser.find_elements(By.NAME, "name"), what="the sign-in page")
    name.send_keys("alice")
    password = browser.find_element(By.NAME, "password")
    password.send_keys("correct horse")
    password.submit()
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".rw-reviewer"), what="the sign-in")
    assert browser.find_element(By.CSS_SELECTOR, ".rw-reviewer").text == "alice"

    # Open the OpenAI hit, add a note, mark it actioned.
    browser.find_element(By.PARTIAL_LINK_TEXT, "La Société Générale salue").click()
    # The hit page is the one with a status line (the list has a note field per hit).
    wait_until(lambda: browser.find_elements(By.ID, "rw-status"), what="the hit page")
    (note,) = browser.find_elements(By.NAME, "note")
    assert "Why it matched" in browser.page_source
    note.send_keys("forwarded to the client")
    browser.find_element(By.CSS_SELECTOR, "button.rw-set-actioned").click()
    wait_until(lambda: "reviewed=1" in browser.current_url, what="the review's redirect")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "table.rw-log"), what="the log")
    assert browser.find_element(By.ID, "rw-status").text == "actioned"
    history = browser.find_element(By.CSS_SELECTOR, "table.rw-log").text
    assert "alice" in history and "new → actioned" in history
    shot = tmp_path / "hit-actioned.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000

    # The command line sees the same review, attributed to the account.
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "watcher",
            "--config",
            str(hit_config),
            "hits",
            "--status",
            "actioned",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (hit,) = json.loads(out)
    assert hit["entity"] == "OpenAI" and hit["status"] == "actioned"
    assert (hit["reviewed_by"], hit["note"]) == ("alice", "forwarded to the client")
