"""The docs and the code stay in step: config keys, and links between the Markdown files."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGURATION = ROOT / "docs" / "configuration.md"
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def accepted_keys() -> dict[str, set[str]]:
    """What the config loader accepts: table name as the doc headings write it -> key names.

    The one place that knows where the loader keeps its key specs.
    """
    from watcher.config.schema import TABLES, TOP

    # Every top-level table the loader accepts must have its spec here.
    missing = set(TOP) - set(TABLES)
    assert not missing, f"the loader has no key spec for top-level tables {sorted(missing)}"
    return {name: set(spec) for name, spec in TABLES.items()}


_FENCE = re.compile(r"^\s*(```|~~~)")
# "## [storage]", "## [[sources]]", "## `[sources.selectors]`", "## [http] (optional)"
_TABLE_HEADING = re.compile(r"^##\s+`?\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?`?(?:\s.*)?$")
# "| `path` | ..." and "| `path` (required) | ...": the key is the first cell's code span
_KEY_ROW = re.compile(r"^\|\s*`([^`]+)`[^|]*\|")


def lines_outside_code(text: str) -> list[str]:
    """The lines of a Markdown text that are not inside fenced code blocks."""
    out, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return out


def documented_keys(text: str) -> dict[str, set[str]]:
    """Table name -> keys, from `## [table]` / `## [[table]]` headings and their key rows.

    A table's section runs to the next `#` or `##` heading; its keys are the table rows
    whose first cell is a backticked key. Other sections are ignored.
    """
    found: dict[str, set[str]] = {}
    current: str | None = None
    for line in lines_outside_code(text):
        if re.match(r"^#{1,2}\s", line):
            m = _TABLE_HEADING.match(line.strip())
            current = m.group(1) if m else None
            if current is not None:
                found.setdefault(current, set())
            continue
        if current is None:
            continue
        row = _KEY_ROW.match(line.strip())
        if row:
            found[current].add(row.group(1).strip())
    return found


DOCUMENTED = documented_keys(CONFIGURATION.read_text(encoding="utf-8"))
ACCEPTED = accepted_keys()


def test_the_doc_parser_reads_headings_and_rows():
    text = "\n".join(
        [
            "# Configuration",
            "## [storage]",
            "| key | meaning |",
            "| --- | --- |",
            "| `path` | the database |",
            "```toml",
            "## [ignored]",
            "| `not_a_key` | in a code block |",
            "```",
            "### Notes",
            "| `retention` | a sub-heading does not end the table's section |",
            "## [[sources]] — one per feed",
            "| `name` (required) | a unique name |",
            "## Credentials",
            "| `CREDENTIALS_DIRECTORY` | not a table section |",
        ]
    )
    assert documented_keys(text) == {"storage": {"path", "retention"}, "sources": {"name"}}


def test_every_top_level_table_has_a_heading():
    tables = {name for name in ACCEPTED if "." not in name}
    missing = sorted(tables - set(DOCUMENTED))
    assert not missing, "docs/configuration.md has no heading for: " + ", ".join(
        f"[{name}] (write '## [{name}]' or '## [[{name}]]')" for name in missing
    )


def test_every_documented_table_is_accepted():
    unknown = sorted(set(DOCUMENTED) - set(ACCEPTED))
    assert not unknown, (
        "docs/configuration.md has headings for tables the loader does not accept: "
        + ", ".join(f"[{name}]" for name in unknown)
    )


@pytest.mark.parametrize("table", sorted(ACCEPTED))
def test_documented_keys_are_the_accepted_keys(table):
    documented = DOCUMENTED.get(table, set())
    accepted = ACCEPTED[table]
    problems = [
        f"[{table}] {key}: accepted by the loader, but no row `{key}` under '## [{table}]' "
        "in docs/configuration.md"
        for key in sorted(accepted - documented)
    ] + [
        f"[{table}] {key}: documented in docs/configuration.md, but the loader does not accept it"
        for key in sorted(documented - accepted)
    ]
    assert not problems, "\n".join(problems)


# -- links -----------------------------------------------------------------------------------

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def anchor(heading: str) -> str:
    """The anchor a forge (GitHub, GitLab, Forgejo) gives a heading: `## A [b] (c)` -> a-b-c."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lstrip("#").strip()).lower()
    text = "".join(ch for ch in text if ch in " -" or unicodedata.category(ch)[0] in ("L", "N"))
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file (repeated headings get -1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for line in lines_outside_code(path.read_text(encoding="utf-8")):
        if re.match(r"^#{1,6}\s", line):
            slug = anchor(line)
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def relative_links(path: Path) -> list[str]:
    links = []
    for line in lines_outside_code(path.read_text(encoding="utf-8")):
        line = re.sub(r"`[^`]*`", "", line)  # code spans are not links
        links += [t for t in _LINK.findall(line) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]
    return links


def test_anchor_matches_the_forges():
    assert anchor("## [sources.selectors]") == "sourcesselectors"
    assert anchor("## [[sources]]") == "sources"
    assert anchor('## Web pages (kind = "html")') == "web-pages-kind--html"
    assert anchor("## `regwatch deliveries retry`") == "regwatch-deliveries-retry"


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_files_and_headings(path):
    broken = []
    for target in relative_links(path):
        file_part, _, fragment = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target}: no file {os.path.relpath(dest, ROOT)}")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{fragment} in {dest.name}")
    assert not broken, f"broken links in {path.relative_to(ROOT)}:\n" + "\n".join(broken)
