"""Secrets as systemd credentials, and configs that anyone could edit refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from watcher.config import load_config, parse_config
from watcher.errors import ConfigError

CHANNEL = '[[channels]]\nname = "{name}"\nurl = "{url}"\n'


def channels(*pairs: tuple[str, str]) -> str:
    return "".join(CHANNEL.format(name=n, url=u) for n, u in pairs)


def test_credential_reference_reads_the_file_from_credentials_directory(tmp_path):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "slack").write_text("slack://T1ABC/B2DEF/secretTOKEN\n")
    text = channels(("team", "${credential:slack}"), ("mail", "mailtos://me:${MAILPW}@example.com"))
    config = parse_config(
        text, tmp_path / "c.toml", env={"CREDENTIALS_DIRECTORY": str(creds), "MAILPW": "pw"}
    )
    assert config.channels[0].url == "slack://T1ABC/B2DEF/secretTOKEN"  # trailing newline gone
    assert config.channels[1].url == "mailtos://me:pw@example.com"
    assert "secretTOKEN" not in config.channels[0].masked_url


@pytest.mark.parametrize(
    ("url", "env", "message"),
    [
        (
            "${credential:slack}",
            {},
            "credential 'slack' is referenced but $CREDENTIALS_DIRECTORY is not set",
        ),
        (
            "${credential:slack}",
            {"CREDENTIALS_DIRECTORY": "{creds}"},
            "credential 'slack' not found ({creds}/slack does not exist)",
        ),
        (
            "${credential:../etc/passwd}",
            {"CREDENTIALS_DIRECTORY": "{creds}"},
            "'../etc/passwd' is not a credential name",
        ),
    ],
    ids=["no-directory", "missing-file", "path-traversal"],
)
def test_credential_errors_name_the_channel_and_the_credential(tmp_path, url, env, message):
    creds = tmp_path / "creds"
    creds.mkdir()
    env = {k: v.format(creds=creds) for k, v in env.items()}
    with pytest.raises(ConfigError) as err:
        parse_config(channels(("team", url)), tmp_path / "c.toml", env=env)
    assert f"channels[0].url: {message.format(creds=creds)}" in str(err.value)
    assert "LoadCredential=" in err.value.hint


def test_check_lists_every_missing_credential(tmp_path, make_config, run_cli, monkeypatch):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "present").write_text("json://127.0.0.1:9/hook")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    config = make_config(
        channels={
            "a": "${credential:slack}",
            "b": "${credential:present}",
            "c": "${credential:teams}",
        }
    )
    result = run_cli(config, "check")
    assert result.exit_code == 3
    assert "2 credentials missing" in result.output
    assert "channels[0].url: credential 'slack' not found" in result.output
    assert "channels[2].url: credential 'teams' not found" in result.output
    assert "present" not in result.output.replace(str(creds), "")

    (creds / "slack").write_text("json://127.0.0.1:9/a")
    (creds / "teams").write_text("json://127.0.0.1:9/c")
    assert run_cli(config, "check").exit_code == 0


@pytest.mark.parametrize(
    ("mode", "url", "refused"),
    [
        (0o664, "json://user:hunter2@127.0.0.1:9/hook", "group"),
        (0o646, "${credential:hook}", "world"),
        (0o666, "${HOOK}", "group- and world"),
        (0o664, "json://127.0.0.1:9/hook", None),  # no secret in or behind it
        (0o644, "json://user:hunter2@127.0.0.1:9/hook", None),  # only the owner can write
    ],
    ids=["group-password", "world-credential", "both-env", "no-secret", "owner-only"],
)
def test_writable_config_with_a_secret_is_refused(tmp_path, mode, url, refused):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "hook").write_text("json://u:p@127.0.0.1:9/hook")
    path: Path = tmp_path / "regwatch.toml"
    path.write_text(channels(("hook", url)))
    os.chmod(path, mode)
    env = {"CREDENTIALS_DIRECTORY": str(creds), "HOOK": "json://u:p@127.0.0.1:9/x"}
    if refused is None:
        assert load_config(path, env=env).channels[0].name == "hook"
        return
    with pytest.raises(ConfigError) as err:
        load_config(path, env=env)
    assert f"{path} is {refused}-writable and holds secrets (channels: hook)" in str(err.value)
    assert f"chmod go-w {path}" in err.value.hint
