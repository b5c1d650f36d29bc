"""Progress bars for long operations, shown only when standard error is a terminal.

Piped output, CI logs and the daemon's journal get nothing: a bar there is noise.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TextIO, cast

import click


def wants_progress(stream: IO[str] | None = None) -> bool:
    """True when `stream` (standard error by default) is an interactive terminal."""
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _ignore(n: int = 1) -> None:
    pass


@contextmanager
def progress(
    total: int, label: str, *, stream: IO[str] | None = None
) -> Iterator[Callable[[int], None]]:
    """``with progress(n, "Polling") as advance: ... advance(1)``; a no-op off a terminal."""
    stream = stream or sys.stderr
    if not wants_progress(stream) or total <= 0:
        yield _ignore
        return
    with click.progressbar(
        length=total, label=label, file=cast(TextIO, stream), show_pos=True
    ) as bar:
        yield bar.update
