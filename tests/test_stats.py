"""`regwatch stats`: hit counts over time, as a table, a terminal chart, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest

from watcher.output import sparkline
from watcher.timeparse import periods

pytestmark = pytest.mark.usefixtures("backend")


def stats(run_cli, config, *args):
    result = run_cli(config, "stats", "--since", "2024-01-15", *args)
    assert result.exit_code == 0, result.output
    return result.output


def test_weekly_counts_by_entity_as_json(hit_config, run_cli):
    rows = json.loads(stats(run_cli, hit_config, "--format", "json"))
    counts = {(r["period"], r["entity"]): r["hits"] for r in rows if r["hits"]}
    # Weeks are labelled by their Monday.
    assert counts == {
        ("2024-01-15", "Mistral AI"): 1,
        ("2024-02-12", "Microsoft"): 1,
        ("2024-02-19", "OpenAI"): 1,
        ("2024-02-26", "Microsoft"): 1,
        ("2024-02-26", "Mistral AI"): 1,
    }
    # Every week up to today is there, also the empty ones, for every entity.
    weeks = sorted({r["period"] for r in rows})
    assert weeks[:3] == ["2024-01-15", "2024-01-22", "2024-01-29"]
    assert len(rows) == 3 * len(weeks)


def test_table_and_one_chart_row_per_entity(hit_config, run_cli):
    out = stats(run_cli, hit_config, "--every", "month")
    table, chart, backlog = out.strip("\n").split("\n\n")
    assert backlog.startswith("review backlog: 5 new (oldest found ")
    assert backlog.endswith(", 0 reviewed, 0 actioned, 0 dismissed")
    assert table.split("\n")[0].split() == ["period", "Microsoft", "Mistral", "AI", "OpenAI"]
    assert table.split("\n")[3].split() == ["2024-02", "2", "1", "1"]
    chart_rows = {line.split("  ")[0].strip(): line for line in chart.split("\n")[1:]}
    assert set(chart_rows) == {"Microsoft", "Mistral AI", "OpenAI"}
    assert chart_rows["Microsoft"].rstrip().endswith("2  " + "█" * 30)
    assert "█" in chart_rows["OpenAI"]


def test_by_topic_uses_each_topic_of_a_hit(hit_config, run_cli):
    rows = json.loads(
        stats(run_cli, hit_config, "--by", "topic", "--every", "month", "--format", "json")
    )
    totals: dict[str, int] = {}
    for r in rows:
        totals[r["topic"]] = totals.get(r["topic"], 0) + r["hits"]
    assert totals == {"antitrust": 2, "merger": 2}


def test_by_source_as_csv(hit_config, run_cli):
    out = stats(run_cli, hit_config, "--by", "source", "--every", "month", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0].keys() == {"period", "source", "hits"}
    feb = {r["source"]: int(r["hits"]) for r in rows if r["period"] == "2024-02"}
    assert feb == {"ec": 2, "elpais": 0, "lemonde": 1, "spiegel": 1}


def test_no_hits_in_the_period_says_so(hit_config, run_cli):
    result = run_cli(hit_config, "stats", "--since", "7d")
    assert result.exit_code == 0 and "no hits since 7d" in result.output


def test_bad_since_is_a_usage_error(hit_config, run_cli):
    result = run_cli(hit_config, "stats", "--since", "last tuesday")
    assert result.exit_code == 2 and "give a duration like 7d" in result.output


@pytest.mark.parametrize(
    ("counts", "line"),
    [([0, 1, 2, 8], " ▁▂█"), ([0, 0], "  "), ([3, 3], "██"), ([], "")],
)
@pytest.mark.one_store
def test_sparkline(counts, line):
    assert sparkline(counts) == line


@pytest.mark.one_store
def test_periods_fill_the_gaps():
    from datetime import date

    assert periods(date(2024, 1, 30), date(2024, 3, 1), "month") == [
        "2024-01",
        "2024-02",
        "2024-03",
    ]
    assert periods(date(2024, 2, 28), date(2024, 3, 1), "day") == [
        "2024-02-28",
        "2024-02-29",
        "2024-03-01",
    ]


def test_until_bounds_the_periods(hit_config, run_cli):
    out = stats(
        run_cli, hit_config, "--until", "2024-02-29", "--every", "month", "--format", "json"
    )
    assert sorted({r["period"] for r in json.loads(out)}) == ["2024-01", "2024-02"]


def test_counts_by_review_status_and_the_backlog(hit_config, run_cli):
    assert (
        run_cli(hit_config, "review", "1", "2", "--status", "actioned", "--by", "a").exit_code == 0
    )
    rows = json.loads(
        stats(run_cli, hit_config, "--by", "status", "--every", "month", "--format", "json")
    )
    totals: dict[str, int] = {}
    for r in rows:
        totals[r["status"]] = totals.get(r["status"], 0) + r["hits"]
    assert totals == {"actioned": 2, "new": 3}
    out = stats(run_cli, hit_config, "--by", "status", "--every", "month")
    assert "review backlog: 3 new" in out and "2 actioned" in out
