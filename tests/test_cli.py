"""Every command explains itself: --help with an example, and a row and a section in docs/cli.md."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from watcher.cli import cli

CLI_DOC = Path(__file__).parents[1] / "docs" / "cli.md"
CLI_LINES = CLI_DOC.read_text(encoding="utf-8").splitlines()


def commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*prefix, name))


@pytest.mark.parametrize("path", list(commands(cli)), ids=" ".join)
def test_every_command_has_help_with_an_example_and_a_row_in_the_cli_doc(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    name = f"regwatch {' '.join(path)}"
    assert any(line.startswith(f"| `{name}`") for line in CLI_LINES), (
        f"docs/cli.md: no row for {name!r} in the table of commands (a line starting "
        f"with '| `{name}`')"
    )
    assert f"## `{name}`" in CLI_LINES, f"docs/cli.md: no section '## `{name}`'"


def test_version_and_python_dash_m():
    import subprocess
    import sys

    from watcher import __version__

    out = subprocess.run(
        [sys.executable, "-m", "watcher", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert __version__ in out and "regwatch" in out
