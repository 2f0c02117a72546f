"""Shared plumbing for the thin scripts in stages/: logging, one-line errors, exit codes."""

from __future__ import annotations

import errno
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from finegrain.errors import FinegrainError, Interrupted

log = logging.getLogger("finegrain")

ENVIRONMENT_ERRORS = {
    errno.ENOSPC: "free some disk space and run the stage again",
    errno.EDQUOT: "free some space under your quota and run the stage again",
    errno.EROFS: "the file system is read-only; run from a writable copy",
    errno.EACCES: "check the file's permissions",
}
"""OSErrors caused by the machine, not by a bug: reported like a FinegrainError, with what to do."""

INTERRUPTED = "interrupted; run `dvc repro` again to finish it"


def environment_error(err: OSError) -> str | None:
    """One line for an OSError the user can act on (disk full, permissions), else None."""
    advice = ENVIRONMENT_ERRORS.get(err.errno)
    if advice is None:
        return None
    where = f": {err.filename}" if err.filename else ""
    return f"{err.strerror or err}{where}; {advice}"


def _stage_name() -> str:
    return " ".join([Path(sys.argv[0]).stem, *sys.argv[1:]])


def _interrupted_while_importing(kind, value, traceback) -> None:
    """sys.excepthook of a stage script: Ctrl-C during its imports (seconds of torch, timm...) is one line too."""
    if issubclass(kind, KeyboardInterrupt):
        print(f"error: {_stage_name()}: {INTERRUPTED}", file=sys.stderr)
    else:
        sys.__excepthook__(kind, value, traceback)


if Path(sys.argv[0]).parent.name == "stages":  # imported by a stage script (before its heavy imports), not a library
    sys.excepthook = _interrupted_while_importing


def run_stage(main: Callable[[list[str]], None]) -> None:
    """Run a stage's main(argv); a FinegrainError (or a full disk) becomes one line on stderr and exit status 2;
    Ctrl-C one line and 130 (128 + SIGINT, what a shell reports)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    name = _stage_name()
    start = time.perf_counter()
    try:
        main(sys.argv[1:])
    except FinegrainError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_status)
    except KeyboardInterrupt:
        print(f"error: {name}: {INTERRUPTED}", file=sys.stderr)
        sys.exit(Interrupted.exit_status)
    except OSError as err:
        message = environment_error(err)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    log.info("stage %s done in %.1f s", name, time.perf_counter() - start)
