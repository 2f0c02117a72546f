"""Resume state: written atomically every epoch under data/ckpt (not a DVC output), deleted after success."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from finegrain.atomic import file_md5
from finegrain.torch_io import load_weights_only


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """Hash of the finegrain package's source files."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def run_key(config: dict[str, Any], input_files: list[Path]) -> str:
    """Hash of the resolved config, the input data and the code, so a changed lr, dataset or source file never
    resumes an old run (or reuses its cached features): the result would be neither the old code's nor the new's."""
    digest = hashlib.sha256(json.dumps({**config, "code": code_digest()}, sort_keys=True, default=str).encode())
    for path in input_files:
        digest.update(path.name.encode())
        digest.update(file_md5(path).encode() if path.is_file() else b"-")
    return digest.hexdigest()[:16]


def load_state(path: Path) -> dict[str, Any] | None:
    """The saved state, or None when there is none (weights_only: a pickle payload is refused)."""
    if not path.is_file():
        return None
    return load_weights_only(path, f"delete {path.parent} (make clean-ckpt) to train from scratch")
