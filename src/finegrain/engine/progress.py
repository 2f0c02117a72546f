"""tqdm progress bars that stay quiet when stderr is not a terminal (under `dvc queue`, CI or pytest)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def progress(iterable: Iterable | None = None, desc: str = "", **kwargs: Any) -> tqdm:
    """A tqdm bar over `iterable` (or a manual one: `total=`, `.update()`), disabled when stderr is not a TTY.

    Wrap loops that log in `tqdm.contrib.logging.logging_redirect_tqdm()` so log lines print above the bar.
    """
    kwargs.setdefault("mininterval", 2.0)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, desc=desc, disable=None, **kwargs)
