"""Shared plumbing for the thin scripts in stages/: logging, one-line errors, exit codes."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from finegrain.errors import FinegrainError

log = logging.getLogger("finegrain")


def run_stage(main: Callable[[list[str]], None]) -> None:
    """Run a stage's main(argv); a FinegrainError becomes one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    name = " ".join([Path(sys.argv[0]).stem, *sys.argv[1:]])
    start = time.perf_counter()
    try:
        main(sys.argv[1:])
    except FinegrainError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    log.info("stage %s done in %.1f s", name, time.perf_counter() - start)
