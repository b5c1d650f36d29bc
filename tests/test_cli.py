"""Every command explains itself: --help with an example, and a row in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from watcher.cli import cli

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*prefix, name))


@pytest.mark.parametrize("path", list(commands(cli)), ids=" ".join)
def test_every_command_has_help_with_an_example_and_a_readme_row(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    assert f"| `regwatch {' '.join(path)}" in README


def test_version_and_python_dash_m():
    import subprocess
    import sys

    from watcher import __version__

    out = subprocess.run(
        [sys.executable, "-m", "watcher", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert __version__ in out and "regwatch" in out
