"""tqdm progress bars that stay quiet when stderr is not a terminal (under `dvc queue`, CI or pytest)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm


def progress(iterable: Iterable | None = None, desc: str = "", **kwargs: Any) -> tqdm:
    """A tqdm bar over `iterable` (or a manual one: `total=`, `.update()`), disabled when stderr is not a TTY.

    Wrap loops that log in `logs_above(bar)` so log lines print above the bar.
    """
    kwargs.setdefault("mininterval", 2.0)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, desc=desc, disable=None, **kwargs)


class _AboveBar(logging.Handler):
    def __init__(self, console: logging.StreamHandler) -> None:
        super().__init__(console.level)
        self.stream = console.stream
        self.setFormatter(console.formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001  (logging's own convention: a handler never raises)
            self.handleError(record)


@contextmanager
def logs_above(bar: tqdm) -> Iterator[None]:
    """Print the root logger's console lines above a shown `bar`; nothing changes when the bar is hidden.

    Not tqdm's `logging_redirect_tqdm`: it recognises a console handler by `stream is sys.stderr`, and once
    dvclive has wrapped sys.stderr (colorama) it kept the handler and added its own, so every line printed twice.
    """
    root = logging.getLogger()
    streams = {id(s) for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)}
    consoles = [h for h in root.handlers if type(h) is logging.StreamHandler and id(h.stream) in streams]
    if bar.disable or not consoles:
        yield
        return
    saved = root.handlers
    root.handlers = [h for h in saved if h not in consoles] + [_AboveBar(h) for h in consoles]
    try:
        yield
    finally:
        root.handlers = saved
