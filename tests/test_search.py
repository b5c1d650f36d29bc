"""Full-text search: `regwatch search` over all items, `regwatch hits --search`, the index."""

from __future__ import annotations

import json

import pytest
from conftest import old_database

from watcher.store import Store
from watcher.store.search import SearchError, fts_query, tsquery

pytestmark = pytest.mark.usefixtures("backend")


def search_json(run_cli, config, query, *extra):
    result = run_cli(config, "search", query, "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def titles(rows):
    return [r["title"] for r in rows]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("societe", ["La Société Générale salue"], id="accents-folded"),
        pytest.param("SOCIÉTÉ générale", ["La Société Générale salue"], id="case-folded"),
        pytest.param("Kommission", ["Die Kommission prüft"], id="german-kommission"),
        pytest.param("Kommission's", ["Die Kommission prüft"], id="apostrophe-quoted-for-user"),
        pytest.param("enquête*", ["La Société Générale salue"], id="prefix-accented"),
        pytest.param("enquete*", ["La Société Générale salue"], id="prefix-folded"),
        pytest.param("investigacion", ["La Comisión investiga"], id="spanish"),
        pytest.param("commissione", ["Agricoltura: la Commissione"], id="italian-no-hit"),
        pytest.param('"merger control"', ["Commission opens in-depth"], id="phrase"),
        pytest.param("merger control", ["Commission opens", "Agriculture council"], id="and"),
        pytest.param("Kommission OR Comisión", ["Die Kommission", "La Comisión"], id="or"),
        pytest.param("merger NOT farming", ["Commission opens in-depth"], id="not"),
        pytest.param("title:agriculture", ["Agriculture council"], id="column"),
    ],
)
def test_search_finds_items_across_languages(hit_config, run_cli, query, expected):
    found = titles(search_json(run_cli, hit_config, query))
    assert len(found) == len(expected), found
    for title, start in zip(sorted(found), sorted(expected), strict=True):
        assert title.startswith(start)


def test_search_ranks_by_relevance_then_date_and_marks_matching_words(
    hit_config, run_cli, database
):
    store = Store(database)
    body = "The commissioner spoke about digital markets at length. " * 3
    for key, title, text, published in [
        ("v1", "Digital markets update", body + "Vestager was there.", "2024-03-02"),
        ("v2", "Vestager warns gatekeepers", body, "2024-03-01"),
        ("v3", "Digital markets update", body + "Vestager was there.", "2024-03-03"),
    ]:
        store.engine.execute(
            "INSERT INTO items (source, key, title, text, published, discovered) "
            "VALUES ('ec', ?, ?, ?, ?, '2024-03-03')",
            [key, title, text, published],
        )
    rows = search_json(run_cli, hit_config, "vestager")
    # In the title beats in the text; between equals, the newer first.
    assert [r["published"] for r in rows] == ["2024-03-01", "2024-03-03", "2024-03-02"]
    assert all("**Vestager**" in r["match"] for r in rows)
    assert search_json(run_cli, hit_config, "investment")[0]["entities"] == "Microsoft, Mistral AI"


def test_search_lists_items_without_hits(hit_config, run_cli):
    rows = search_json(run_cli, hit_config, "agriculture")
    assert titles(rows) == ["Agriculture council conclusions"]
    assert rows[0]["entities"] is None  # stored, seen, but no watched company in it


def test_search_table_shows_the_marked_match(hit_config, run_cli):
    result = run_cli(hit_config, "search", "societe")
    assert result.exit_code == 0, result.output
    assert "**Société**" in result.output and "lemonde" in result.output


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param('"merger control', "a double quote is not closed", id="unbalanced-quote"),
        pytest.param("NOT merger", 'syntax error near "NOT"', id="leading-not"),
        pytest.param("merger AND", "syntax error", id="dangling-and"),
        pytest.param("   ", "empty search", id="empty"),
        pytest.param("*", "'*' must end a word", id="lone-star"),
    ],
)
def test_bad_query_is_a_clear_error_not_a_traceback(hit_config, run_cli, query, message):
    for args in (["search", query], ["hits", "--search", query]):
        result = run_cli(hit_config, *args)
        assert result.exit_code == 1
        assert message in result.output
        assert "hint: words are ANDed" in result.output or "empty" in message or "*" in message
        assert "Traceback" not in result.output


def test_hits_search_ranks_hits_and_keeps_other_filters(hit_config, run_cli):
    result = run_cli(hit_config, "hits", "--search", "commission*", "--format", "json")
    rows = json.loads(result.output)
    # Only hits (the agriculture items match "commission*" too but have no hit).
    assert {r["entity"] for r in rows} == {"Microsoft", "Mistral AI", "OpenAI"}
    assert all("**" in r["match"] for r in rows)
    assert [r["rank"] for r in rows] == sorted(r["rank"] for r in rows)
    one = run_cli(hit_config, "hits", "--search", "commission*", "--entity", "openai")
    assert "La Société Générale" in one.output and "Microsoft" not in one.output.split("\n", 2)[2]


def test_index_follows_inserts_updates_and_deletes(hit_config, database):
    store = Store(database)
    sql = store.engine.execute
    with store.writing("changes"):
        sql("UPDATE items SET title = 'Wettbewerbshüter prüfen' WHERE key = 'de1'")
        es1 = "(SELECT id FROM items WHERE key = 'es1')"
        sql(f"DELETE FROM deliveries WHERE hit_id IN (SELECT id FROM hits WHERE item_id = {es1})")
        sql(f"DELETE FROM hits WHERE item_id = {es1}")
        sql("DELETE FROM items WHERE key = 'es1'")
    assert titles(store.search_items("wettbewerbshuter")) == ["Wettbewerbshüter prüfen"]
    assert store.search_items("prüft Beteiligung") == []
    assert store.search_items("Comisión") == []


@pytest.mark.empty_database
def test_migration_indexes_an_existing_database(database):
    from watcher.store.base import open_engine

    _database_before_search(database)
    old = open_engine(database)
    old.execute(
        "INSERT INTO items (source, key, title, text, discovered) VALUES "
        "('ec', 'k', 'Enquête sur la fusion', 'Texte', '2024-01-01')"
    )
    old.close()

    store = Store(database)  # migrates
    assert titles(store.search_items("enquete")) == ["Enquête sur la fusion"]


@pytest.mark.one_store  # PostgreSQL's index is a generated column: it cannot be emptied
def test_reindex_rebuilds_the_index(hit_config, run_cli, database):
    store = Store(database)
    store.engine.execute("INSERT INTO items_fts (items_fts) VALUES ('delete-all')")
    assert search_json(run_cli, hit_config, "societe") == []
    result = run_cli(hit_config, "reindex")
    assert result.exit_code == 0 and "indexed 6 items" in result.output
    assert len(search_json(run_cli, hit_config, "societe")) == 1


@pytest.mark.parametrize(
    ("text", "fts"),
    [
        ("AT&T merger", '"AT&T" "merger"'),
        ('"merger control" OR enquête*', '"merger control" OR "enquête"*'),
        ("(a OR b) NOT c", '( "a" OR "b" ) NOT "c"'),
        ("title:fusion", 'title: "fusion"'),
        ("and or not", '"and" "or" "not"'),
    ],
)
@pytest.mark.one_store
def test_fts_query_quotes_words_and_keeps_operators(text, fts):
    assert fts_query(text) == fts


@pytest.mark.one_store
@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("AT&T merger", "('AT&T' & 'merger')"),
        ('"merger control" OR enquête*', "(('merger' <-> 'control') | 'enquête':*)"),
        ("(a OR b) NOT c", "(('a' | 'b') & !'c')"),
        ("a OR b NOT c d", "('a' | (('b' & !'c') & 'd'))"),
        ("title:fusion*", "'fusion':*A"),
        ("Kommission's", "'Kommission''s'"),
        ("and or not", "('and' & 'or' & 'not')"),
    ],
)
def test_tsquery_parses_with_fts5_precedence(text, query):
    assert tsquery(text) == query


@pytest.mark.one_store
def test_fts_query_rejects_unbalanced_quote():
    with pytest.raises(SearchError, match="not closed"):
        fts_query('Microsoft "merger')
    with pytest.raises(SearchError, match="not closed"):
        tsquery('Microsoft "merger')


def _database_before_search(database):
    """A database as regwatch made it before the search migration."""
    old_database(database, skip=lambda name: name >= "03")


@pytest.mark.one_store  # PostgreSQL databases are made with the index
def test_old_database_read_only_says_how_to_build_the_index(make_config, run_cli, database):
    config = make_config()
    _database_before_search(database)
    for args in (["search", "x"], ["hits", "--search", "x"], ["serve"]):
        result = run_cli(config, *args)
        assert result.exit_code in (1, 4), result.output
        assert "regwatch reindex" in result.output
    assert run_cli(config, "reindex").exit_code == 0  # migrates, then indexes
    assert run_cli(config, "search", "x").exit_code == 0
