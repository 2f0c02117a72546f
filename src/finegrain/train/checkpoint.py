"""Resume state: written atomically every epoch under data/ckpt (not a DVC output), deleted after success."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch

from finegrain.atomic import atomic_write_bytes, file_md5


def run_key(config: dict[str, Any], input_files: list[Path]) -> str:
    """Hash of the resolved config and the input data, so a changed lr or dataset never resumes an old run."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for path in input_files:
        digest.update(path.name.encode())
        digest.update(file_md5(path).encode() if path.is_file() else b"-")
    return digest.hexdigest()[:16]


def save_state(path: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_state(path: Path) -> dict[str, Any] | None:
    """The saved state, or None when there is none (weights_only: a pickle payload is refused)."""
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
