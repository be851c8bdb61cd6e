"""The output folder of a run (`--out`): claimed, locked and checked before any training.

A run writes into a folder it owns. `claim_run_folder`:

* refuses a path that is a file, a folder it cannot create or write to, and a non-empty
  folder that is not a dpaudit run (the user's own project: `--out .`), unless `force`;
* marks the folder as a dpaudit run (`.dpaudit-run`) and holds an exclusive lock on that
  marker for the whole run, so a second run into the same folder is refused instead of
  racing it (the lock is the kernel's `flock`: released when the process dies, never stale);
* checks the free space against an estimate of what the run writes;
* turns an interrupt or a write failure (full disk, read-only file system) into a message
  that says what the folder holds now.

A run's outputs (scores.csv, report.html, results.json) are written by
`dpaudit.audit.outputs.write_outputs` into a staging folder inside the run folder and then
swapped in together (`commit_staged`), so the folder never mixes two runs' outputs.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Iterator

from dpaudit.errors import InputError

__all__ = ["MARKER", "OUTPUT_FILES", "STAGING_PREFIX", "claim_run_folder", "commit_staged",
           "describe_folder", "is_run_folder", "check_output_folder"]

logger = logging.getLogger(__name__)

MARKER = ".dpaudit-run"
# What a run writes at its end, in the order they are swapped in (results.json last: its
# presence means the outputs are complete).
OUTPUT_FILES = ("scores.csv", "report.html", "results.json")
STAGING_PREFIX = ".dpaudit-staging-"
# Entries a dpaudit run folder may hold besides the marker.
_RUN_ENTRIES = frozenset(OUTPUT_FILES) | {"models", MARKER, "junit.xml"}
# errno values that mean "the environment", not "a bug": reported as bad input (exit 2).
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES,
                                errno.EPERM})


def is_run_folder(folder: Path) -> bool:
    """True for a folder that dpaudit wrote: it has the marker, or (runs made before the
    marker existed) only dpaudit's entries and a results.json with dpaudit's layout."""
    if (folder / MARKER).is_file():
        return True
    names = {p.name for p in folder.iterdir()}
    if "results.json" not in names or not names <= _RUN_ENTRIES:
        return False
    try:
        raw = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(raw, dict) and "schema_version" in raw and "arms" in raw


def check_output_folder(out: Path, *, force: bool, flag: str = "--out") -> None:
    """The checks that need no lock: a folder (or a path one can be made at) that is empty,
    a dpaudit run, or `force`d. Cheap; commands call it before loading TensorFlow."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{flag} {out}: is a file; expected a folder for the run's outputs")
    if out.is_dir():
        try:
            entries = sorted(p.name for p in out.iterdir())
        except OSError as e:
            raise InputError(f"{flag} {out}: cannot read the folder ({e.strerror})") from None
        if entries and not force and not is_run_folder(out):
            shown = ", ".join(entries[:6]) + (", ..." if len(entries) > 6 else "")
            raise InputError(
                f"{flag} {out}: folder is not empty and is not a dpaudit run (it holds "
                f"{shown}); a run writes results.json, scores.csv, report.html and models/ "
                "there and would replace files of those names. Choose a new or empty folder, "
                "or pass --force to write into this one anyway")
        return
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise InputError(f"{flag} {out}: {parent} is a file, so the folder cannot be created")


@contextlib.contextmanager
def claim_run_folder(out: str | os.PathLike, *, force: bool = False, need_bytes: int = 0,
                     flag: str = "--out") -> Iterator[Path]:
    """Checks, creates, marks and locks the run folder `out` for the duration of a run.

    Args:
      out: the output folder.
      force: write into a non-empty folder that is not a dpaudit run.
      need_bytes: estimated bytes the run writes; less free space is refused up front.
      flag: the option name for messages.

    Raises:
      InputError: `out` is a file, not writable, not empty and not a run (without
        `force`), locked by another run, or on a disk with too little space; and, during
        the run, a write that fails for lack of space or permission. Each message names
        the folder and says what it holds.
    """
    out = Path(out)
    check_output_folder(out, force=force, flag=flag)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = open(out / MARKER, "a+", encoding="utf-8")
    except OSError as e:
        raise InputError(f"{flag} {out}: cannot create or write to the folder "
                         f"({e.strerror or e})") from None
    _lock(handle, out, flag)  # on failure: closed, and the other run's marker untouched
    try:
        _clean_stale_staging(out)
        _check_free_space(out, need_bytes, flag)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"tool": "dpaudit", "pid": os.getpid()}) + "\n")
        handle.flush()
        try:
            yield out
        except KeyboardInterrupt as e:
            e.add_note(describe_folder(out))
            raise
        except OSError as e:
            if e.errno not in ENVIRONMENT_ERRNOS:
                raise
            where = e.filename or f"{flag} {out}"
            raise InputError(f"{where}: {e.strerror or e}; the run stopped. "
                             f"{describe_folder(out)}") from None
    except BaseException:
        _undo_claim(out, created)
        raise
    finally:
        handle.close()  # releases the lock


def _undo_claim(out: Path, created: bool) -> None:
    """A run that failed before writing anything leaves no trace: not even the marker."""
    with contextlib.suppress(OSError):
        if {p.name for p in out.iterdir()} <= {MARKER}:
            (out / MARKER).unlink(missing_ok=True)
            if created:
                out.rmdir()


def describe_folder(out: Path) -> str:
    """What `out` holds now, for an interrupted or failed run's message."""
    present = [name for name in OUTPUT_FILES if (out / name).is_file()]
    if present:
        text = (f"{out} holds {', '.join(present)} from one complete run (outputs are swapped "
                "in together, never mixed); nothing half-written was left")
    else:
        text = f"{out} holds no results yet; nothing half-written was left"
    if (out / "models").is_dir() and any((out / "models").iterdir()):
        text += f"; trained models in {out / 'models'} are kept and a rerun resumes from them"
    return text


def commit_staged(staging: Path, out: Path) -> None:
    """Moves the staged outputs into `out` together; an old output the new run did not
    write (report.html of a run without report) is removed, so nothing is mixed.

    Renames within one folder cannot fail for space, and Ctrl-C is held back while they
    run; the old results.json goes first and the new one last, so even a crash in
    between leaves no results.json beside files of another run.
    """
    with _sigint_deferred():
        with contextlib.suppress(FileNotFoundError):
            _keep_mode(out / "results.json", staging / "results.json")
            (out / "results.json").unlink()
        for name in OUTPUT_FILES:
            staged, target = staging / name, out / name
            if staged.is_file():
                _keep_mode(target, staged)
                os.replace(staged, target)
            else:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()


def _keep_mode(existing: Path, new: Path) -> None:
    """A user's `chmod 600` on results.json (it lists member ids) survives a rerun."""
    try:
        mode = existing.stat().st_mode & 0o7777
    except FileNotFoundError:
        return
    with contextlib.suppress(FileNotFoundError):
        os.chmod(new, mode)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        # A Ctrl-C pressed meanwhile is delivered here, after the swap is complete.
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _lock(handle, out: Path, flag: str) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; runs are not protected there
        logger.warning("cannot lock %s on this platform; do not start two runs into it", out)
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = ""
        with contextlib.suppress(ValueError, OSError):
            owner = f" (pid {json.loads(handle.read() or '{}').get('pid')})"
        handle.close()
        raise InputError(f"{flag} {out}: another dpaudit run{owner} is writing to this folder; "
                         "wait for it to finish or choose another folder") from None


def _clean_stale_staging(out: Path) -> None:
    """Staging folders of runs killed outright (SIGKILL, power loss); we hold the lock."""
    for stale in out.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)


def _check_free_space(out: Path, need_bytes: int, flag: str) -> None:
    if need_bytes <= 0:
        return
    free = shutil.disk_usage(out).free
    if free < need_bytes:
        raise InputError(f"{flag} {out}: {free / 2**20:.0f} MiB free on its disk, the run "
                         f"needs about {need_bytes / 2**20:.0f} MiB; free space or choose "
                         "another folder")
