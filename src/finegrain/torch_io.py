"""torch files on disk: atomic saves, and loads that refuse pickled Python objects (weights_only)."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from finegrain.atomic import atomic_file
from finegrain.errors import DataError


def save_state(path: Path, state: dict[str, Any]) -> None:
    """torch.save `state` to `path` atomically (streamed to a temp file, fsynced, renamed over `path`)."""
    with atomic_file(path) as fh:
        torch.save(state, fh)


def load_weights_only(path: Path, remedy: str) -> Any:
    """torch.load(weights_only=True) on CPU; a pickle payload or an unreadable file is a one-line DataError.

    `remedy` ends the message: what the user should do (e.g. which stage rewrites the file).
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err), flags=re.IGNORECASE)
        what = f"a reference to {found.group(1)}" if found else "Python objects"
        raise DataError(
            f"{path}: refusing to load: the checkpoint holds {what}, not only tensors (weights_only=True); {remedy}"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{path}: not a readable checkpoint ({detail}); {remedy}") from None
