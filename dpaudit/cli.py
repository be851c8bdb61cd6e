"""The `dpaudit` command line: a thin click group over library functions.

Each command lives in `dpaudit/commands/<name>.py` and is imported only when it is
run (or when `--help` lists it), so `dpaudit --help` never imports TensorFlow.
Exit codes follow docs/architecture.md: 0 ok, 1 gate failed, 2 bad input, 3 internal error.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback

import click

from dpaudit import __version__
from dpaudit.errors import EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_INTERNAL, GateFailed, InputError
from dpaudit.run_folder import ENVIRONMENT_ERRNOS

__all__ = ["cli", "main", "import_tensorflow_quietly"]

# command name -> "module:attribute"
_COMMANDS = {
    "train-and-attack": "dpaudit.commands.train_and_attack:train_and_attack",
    "attack": "dpaudit.commands.attack:attack",
    "canary-audit": "dpaudit.commands.canary_audit:canary_audit",
    "epsilon": "dpaudit.commands.epsilon:epsilon",
    "suggest-clip": "dpaudit.commands.suggest_clip:suggest_clip",
    "report": "dpaudit.commands.report:report",
    "gate": "dpaudit.commands.gate:gate",
}


class _DPAuditGroup(click.Group):
    """Loads commands lazily and maps dpaudit's errors to exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = _COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        return command

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InputError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except GateFailed as e:
            if str(e):
                click.echo(str(e), err=True)
            ctx.exit(EXIT_GATE_FAILED)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt as e:
            # The run folder's guard notes what the folder holds (dpaudit.run_folder).
            notes = getattr(e, "__notes__", None)
            click.echo("interrupted: " + ("; ".join(notes) if notes
                                          else "nothing half-written was left behind"),
                       err=True)
            ctx.exit(130)
        except OSError as e:
            if e.errno not in ENVIRONMENT_ERRNOS:
                return self._internal_error(ctx, e)
            # Full disk, read-only or forbidden path: the environment, not a bug.
            click.echo(f"error: {e.filename or 'a file'}: {e.strerror or e}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except Exception as e:  # noqa: BLE001 - the last line of defence
            self._internal_error(ctx, e)

    @staticmethod
    def _internal_error(ctx: click.Context, e: BaseException) -> None:
        if (ctx.obj or {}).get("debug"):
            traceback.print_exc()
        click.echo(f"internal error: {type(e).__name__}: {e}\n"
                   "This is a bug in dpaudit; run with --debug for the traceback.",
                   err=True)
        ctx.exit(EXIT_INTERNAL)


@click.group(cls=_DPAuditGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dpaudit")
@click.option("--debug", is_flag=True, envvar="DPAUDIT_DEBUG",
              help="Show tracebacks of internal errors and verbose logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Audit what a Keras model leaks about its training data.

    Trains a DP-SGD model beside a non-DP baseline, attacks both with membership
    inference, and compares the empirical leakage with the accountant's epsilon.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its C++ start-up banner (absl, oneDNN) kept off stderr.

    TensorFlow 2.21 prints those lines from C++ whatever TF_CPP_MIN_LOG_LEVEL says, so
    the only way to keep a command's output readable is to mute file descriptor 2
    while the library loads. An import error still surfaces as a Python exception.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import tensorflow  # noqa: F401
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="dpaudit", standalone_mode=True))


if __name__ == "__main__":
    main()
