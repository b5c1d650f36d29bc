"""Config mistakes stop start-up with one message naming file, key path and likely key."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.config import load_config
from watcher.errors import ConfigError
from watcher.timeparse import parse_duration

BASE = """
[storage]
path = "hits.db"

[[sources]]
name = "eu"
url = "https://ec.europa.eu/rss"

[[entities]]
name = "Microsoft"
aliases = ["Microsoft"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "regwatch.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "extra, message, hint",
    [
        pytest.param(
            '[[sources]]\nname = "x"\nurl = "https://x.example/"\nintervall = "5m"\n',
            "sources[1].intervall: unknown key",
            "did you mean 'interval'?",
            id="typo-in-source",
        ),
        pytest.param(
            '[storge]\npath = "x"\n',
            "storge: unknown key",
            "did you mean 'storage'?",
            id="typo-top-level",
        ),
        pytest.param(
            '[[sources]]\nname = "x"\nurl = "https://x.example/"\ninterval = 10\n',
            "sources[1].interval: must be a string, not int",
            "",
            id="wrong-type",
        ),
        pytest.param(
            '[[sources]]\nname = "eu"\nurl = "https://x.example/"\n',
            "sources[1].name: duplicate name 'eu'",
            "",
            id="duplicate-source",
        ),
        pytest.param(
            '[[sources]]\nname = "x"\nurl = "https://x.example/"\ninterval = "5 mins"\n',
            "sources[1].interval: '5 mins' is not a duration",
            "",
            id="bad-duration",
        ),
        pytest.param(
            '[[sources]]\nname = "x"\nurl = "ftp://x.example/"\n',
            "sources[1].url: 'ftp://x.example/' is not an http",
            "",
            id="bad-scheme",
        ),
        pytest.param(
            '[[sources]]\nname = "x"\n',
            "sources[1].url: missing required key",
            "",
            id="missing-url",
        ),
        pytest.param(
            '[[channels]]\nname = "c"\nurl = "json://127.0.0.1/"\nentities = ["Microsfot"]\n',
            "channels[0].entities: unknown entity 'Microsfot'",
            "did you mean 'Microsoft'?",
            id="unknown-entity-in-channel",
        ),
        pytest.param(
            '[[channels]]\nname = "c"\nurl = "nosuchservice://x"\n',
            "channels[0].url: apprise does not understand this URL",
            "",
            id="bad-channel-url",
        ),
        pytest.param(
            '[[channels]]\nname = "c"\nurl = "${REGWATCH_TEST_UNSET}"\n',
            "environment variable 'REGWATCH_TEST_UNSET' is not set",
            "",
            id="missing-env",
        ),
        pytest.param(
            "[defaults]\nconcurrency = 0\n",
            "defaults.concurrency: must be a positive",
            "",
            id="zero-concurrency",
        ),
        pytest.param("[[sources]\nname = 1", "not valid TOML", "", id="toml-syntax"),
    ],
)
def test_config_mistakes_are_named(tmp_path, extra, message, hint):
    path = write(tmp_path, BASE + extra)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(path) in caught.value.message
    assert message in caught.value.message
    assert hint in caught.value.hint


def test_relative_storage_path_resolves_against_the_config_folder(tmp_path):
    config = load_config(write(tmp_path, BASE), env={})
    assert config.storage_path == tmp_path / "hits.db"
    assert config.sources[0].interval == 15 * 60


def test_env_vars_are_expanded_and_secrets_masked(tmp_path, run_cli):
    path = write(tmp_path, BASE + '[[channels]]\nname = "c"\nurl = "${HOOK}"\n')
    config = load_config(path, env={"HOOK": "json://bob:s3cretpass@127.0.0.1:9/hook"})
    assert config.channels[0].url == "json://bob:s3cretpass@127.0.0.1:9/hook"
    assert "s3cretpass" not in config.channels[0].masked_url
    assert "s3cretpass" not in repr(config)


def test_check_prints_a_summary_without_secrets(tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-very-secret")
    path = write(
        tmp_path,
        BASE + '[[channels]]\nname = "legal"\n'
        'url = "mailtos://alice:${SMTP_PASSWORD}@smtp.example.com?to=legal@example.com"\n',
    )
    result = run_cli(path, "check")
    assert result.exit_code == 0, result.output
    assert "hunter2-very-secret" not in result.output
    assert "legal" in result.output and "eu" in result.output and "Microsoft" in result.output


def test_check_exit_status_and_message_on_error(tmp_path, run_cli):
    path = write(tmp_path, BASE + '[defaults]\nintervall = "5m"\n')
    result = run_cli(path, "check")
    assert result.exit_code == 3
    assert "defaults.intervall: unknown key" in result.output
    assert "did you mean 'interval'?" in result.output


def test_missing_config_file_says_how_to_make_one(tmp_path, run_cli):
    result = run_cli(tmp_path / "nope.toml", "check")
    assert result.exit_code == 3
    assert "does not exist" in result.output and "regwatch init" in result.output


@pytest.mark.parametrize(
    "text, seconds", [("90s", 90), ("15m", 900), ("1h", 3600), ("1d", 86400), ("1h30m", 5400)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_starter_config_is_valid(tmp_path, run_cli):
    result = run_cli(tmp_path / "regwatch.toml", "init")
    assert result.exit_code == 0
    config = load_config(tmp_path / "regwatch.toml", env={})
    names = {s.name for s in config.sources}
    assert {"ec-presscorner", "dg-competition", "uk-cma", "us-ftc", "techcrunch"} <= names
    assert {e.name for e in config.entities} == {"Microsoft", "Mistral AI", "OpenAI"}
    shipped = Path(__file__).parent.parent / "config" / "regwatch.toml"
    assert shipped.read_text() == (tmp_path / "regwatch.toml").read_text()


def test_a_clamped_interval_is_said_not_silent(tmp_path, run_cli):
    path = write(
        tmp_path,
        BASE.replace(
            'url = "https://ec.europa.eu/rss"', 'url = "https://ec.europa.eu/rss"\ninterval = "10s"'
        ),
    )
    config = load_config(path, env={})
    assert config.sources[0].interval == 60
    result = run_cli(path, "check")
    assert result.exit_code == 0
    assert (
        "note: sources[0].interval: 10s is outside 60s..86400s: polled every 60s" in result.output
    )


HASH = "pbkdf2_sha256$1000$salt$c2FsdA=="


@pytest.mark.parametrize(
    "web, message",
    [
        (
            '[web]\nbase_url = "regwatch.example.org"\n',
            "web.base_url: 'regwatch.example.org' is not",
        ),
        ('[web]\nanonymous = "no"\n', "web.anonymous: 'no' is not one of 'read', 'none'"),
        ('[web]\nanonymous = "none"\n', 'web.anonymous: "none" refuses everyone'),
        (
            '[[web.accounts]]\nname = "alice"\npassword_hash = "hunter2"\n',
            "web.accounts[0].password_hash: not a password hash",
        ),
        (
            f'[[web.accounts]]\nname = "a"\npassword_hash = "{HASH}"\n'
            f'[[web.accounts]]\nname = "a"\npassword_hash = "{HASH}"\n',
            "web.accounts[1].name: duplicate name 'a'",
        ),
        ('[[web.accounts]]\nname = "a"\npasword_hash = "x"\n', "web.accounts[0].pasword_hash"),
    ],
    ids=["base-url", "anonymous", "none-without-accounts", "plain-password", "duplicate", "typo"],
)
def test_web_mistakes_are_named(tmp_path, web, message):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, BASE + web), env={})
    assert message in caught.value.message


def test_web_table_and_archive_links(tmp_path, run_cli):
    text = BASE.replace(
        'url = "https://ec.europa.eu/rss"',
        'url = "https://ec.europa.eu/rss"\narchive_links = true',
    )
    path = write(
        tmp_path,
        text + '[web]\nbase_url = "https://rw.example.org/"\nanonymous = "none"\n'
        f'[[web.accounts]]\nname = "alice"\npassword_hash = "{HASH}"\n',
    )
    config = load_config(path, env={})
    assert config.web.base_url == "https://rw.example.org"
    assert config.web.account("alice") and config.web.account("bob") is None
    assert HASH not in repr(config)
    assert config.sources[0].archive_links is True
    assert len(config.sha256) == 64
    out = run_cli(path, "check").output
    assert "web: alice; anonymous visitors: none; alerts link to https://rw.example.org" in out
    assert HASH not in out
