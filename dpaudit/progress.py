"""Progress reporting for long audits: one bar per model trained.

Library code reports through a `Progress` object and never prints; the CLI passes a
`ClickProgress` (bars on stderr) unless `--quiet`, and everything else gets the
silent default.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

__all__ = ["Progress", "NullProgress", "ClickProgress"]


class Progress:
    """Receives progress events. The base class ignores them all."""

    @contextlib.contextmanager
    def model(self, label: str, epochs: int) -> Iterator[Callable[[int], None]]:
        """Context for training one model; yields `advance(n_epochs)`."""
        yield lambda n=1: None

    def note(self, text: str) -> None:
        """A one-line status message (e.g. a model reused from an earlier run)."""


NullProgress = Progress


class ClickProgress(Progress):
    """Draws a click progress bar per model on stderr, and notes as plain lines."""

    def __init__(self, *, width: int = 30):
        self._width = width

    @contextlib.contextmanager
    def model(self, label: str, epochs: int) -> Iterator[Callable[[int], None]]:
        import sys

        import click

        # sys.stderr looked up now: CliRunner (and pytest) swap it at run time.
        with click.progressbar(length=max(1, int(epochs)), label=f"{label:<22}",
                               width=self._width, file=sys.stderr,
                               show_eta=True, show_pos=True) as bar:
            yield bar.update

    def note(self, text: str) -> None:
        import click

        click.echo(text, err=True)
