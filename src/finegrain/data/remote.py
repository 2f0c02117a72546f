"""What a downloadable dataset file is: name, URL, checksum and the public source of both (data, no I/O).

Kept apart from the download code (finegrain.data.download) so that the dataset registry, and every stage that
validates params against it, does not depend on how files are fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Checksum:
    algo: str
    """md5 or sha256"""
    value: str

    def __post_init__(self) -> None:
        length = {"md5": 32, "sha256": 64}.get(self.algo)
        if length is None or not re.fullmatch(f"[0-9a-f]{{{length}}}", self.value):
            raise ValueError(f"checksum: expected md5 (32 hex) or sha256 (64 hex), got {self.algo}:{self.value}")

    def __str__(self) -> str:
        return f"{self.algo} {self.value}"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset as its publisher serves it: name, URL, checksum, and where both were found."""

    name: str
    """File name; also its name under a mirror's base URL or directory."""
    url: str
    checksum: Checksum | None
    """None where no source publishes one: the first download prints and records what it received."""
    source: str
    """Where the URL and checksum come from (a file in a public repository at a commit, or the dataset's page)."""
    size: int | None = None
    """Bytes, where the source states it."""
