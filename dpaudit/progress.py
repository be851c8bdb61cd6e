"""Progress reporting for long audits: a bar per model in a terminal, lines in a CI log.

Library code reports through a `Progress` object and never prints; the CLI passes a
`ClickProgress` (on stderr) unless `--quiet`, and everything else gets the silent
default. A run announces how many models it will produce (`expect`, cumulative, so each
stage adds its own), then each model either trains in a `model(...)` context, is
`reused` from an earlier run, or is reported `done` by an executor that trained it
elsewhere; all three count towards "K of N".

In a terminal `ClickProgress` draws a bar per model with its ETA. In a log (stderr not
a TTY, as in CI) bars would print nothing useful, so it prints one line per finished
model with its time, the overall count and the elapsed time, and, for a long training,
a line per epoch at most every `heartbeat` seconds so a slow job never looks hung.
"""

from __future__ import annotations

import contextlib
import time
from typing import IO, Callable, Iterator

__all__ = ["Progress", "NullProgress", "ClickProgress"]


class Progress:
    """Receives progress events. The base class ignores them all."""

    def expect(self, n_models: int) -> None:
        """Announces `n_models` more models (trained or reused) in this run."""

    @contextlib.contextmanager
    def model(self, label: str, epochs: int) -> Iterator[Callable[[int], None]]:
        """Context for training one model; yields `advance(n_epochs)`."""
        yield lambda n=1: None

    def reused(self, label: str, where: object) -> None:
        """A model loaded from an earlier run instead of trained."""
        self.note(f"{label:<22} reused from {where}")

    def done(self, label: str, seconds: float) -> None:
        """A model trained elsewhere (e.g. by an executor's worker) has finished."""

    def note(self, text: str) -> None:
        """A one-line status message."""


NullProgress = Progress


class ClickProgress(Progress):
    """Bars on a terminal, plain lines in a log (see module docstring).

    Args:
      width: bar width in characters.
      tty: force bar (True) or line (False) mode; None: bars iff the stream is a TTY.
      heartbeat: in line mode, the least seconds between two epoch lines of one model.
      file: the stream; None: ``sys.stderr`` looked up at each write (CliRunner and
        pytest swap it at run time).
      clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, *, width: int = 30, tty: bool | None = None, heartbeat: float = 30.0,
                 file: IO[str] | None = None, clock: Callable[[], float] = time.monotonic):
        self._width = width
        self._tty = tty
        self._heartbeat = heartbeat
        self._file = file
        self._clock = clock
        self._started = clock()
        self._total = 0
        self._finished = 0

    def _stream(self) -> IO[str]:
        import sys

        return self._file if self._file is not None else sys.stderr

    def _is_tty(self) -> bool:
        if self._tty is not None:
            return self._tty
        isatty = getattr(self._stream(), "isatty", None)
        return bool(isatty and isatty())

    def _count(self, k: int) -> str:
        return f"[{k}/{self._total}]" if self._total else f"[{k}]"

    def _line(self, text: str) -> None:
        import click

        click.echo(text, file=self._stream())

    def expect(self, n_models: int) -> None:
        self._total += max(0, int(n_models))

    @contextlib.contextmanager
    def model(self, label: str, epochs: int) -> Iterator[Callable[[int], None]]:
        start = self._clock()
        if self._is_tty():
            import click

            with click.progressbar(length=max(1, int(epochs)),
                                   label=f"{self._count(self._finished + 1)} {label:<22}",
                                   width=self._width, file=self._stream(),
                                   show_eta=True, show_pos=True) as bar:
                yield bar.update
            self._finished += 1
            return
        state = {"epoch": 0, "last": start}

        def advance(n: int = 1) -> None:
            state["epoch"] += n
            now = self._clock()
            if now - state["last"] >= self._heartbeat and state["epoch"] < epochs:
                state["last"] = now
                self._line(f"  {label}: epoch {state['epoch']}/{epochs}, "
                           f"{now - start:.0f} s")

        yield advance
        self.done(label, self._clock() - start)

    def reused(self, label: str, where: object) -> None:
        self._finished += 1
        self.note(f"{self._count(self._finished)} {label:<22} reused from {where}")

    def done(self, label: str, seconds: float) -> None:
        self._finished += 1
        self._line(f"{self._count(self._finished)} {label:<22} trained in {seconds:.1f} s "
                   f"(elapsed {self._clock() - self._started:.0f} s)")

    def note(self, text: str) -> None:
        self._line(text)
