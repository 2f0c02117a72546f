"""Walk a user's data tree the same way everywhere (class listing, fingerprint): what is a file, what is skipped.

Light on purpose (no numpy, torch or params model): the `fingerprint` stage imports it on every `dvc repro`.

Hidden entries (names starting with '.': `.ipynb_checkpoints/`, `.DS_Store`, `.git/`) are never walked.
A symlinked directory is followed only when it leads outside the root and outside every directory walked so far:
one that resolves inside them (or to an ancestor of them, e.g. `all -> .`) would repeat the images under another
name or loop forever, so it is skipped and reported. Symlinked files are followed; broken ones
are reported (never silently dropped).
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from finegrain.errors import DataError


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass
class TreeWalker:
    """Lists the files under `root` (sorted by name at every level); collects what it would not follow."""

    root: Path
    broken: list[tuple[Path, str]] = field(default_factory=list)
    """Symlinks whose target does not exist: (link, its target as written)."""
    looped: list[tuple[Path, Path]] = field(default_factory=list)
    """Symlinked directories not followed: (link, the directory it resolves to)."""

    def __post_init__(self) -> None:
        self.real_root = Path(os.path.realpath(self.root))
        self._walked: set[Path] = {self.real_root}

    def entries(self, directory: Path) -> list[tuple[Path, bool]]:
        """(path, is_dir) of the visible entries of `directory`, symlinks resolved by the rules above."""
        out = []
        with os.scandir(directory) as scan:
            items = sorted(scan, key=lambda e: e.name)
        for entry in items:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if not entry.is_symlink():
                if entry.is_dir():
                    out.append((path, True))
                elif entry.is_file():
                    out.append((path, False))
                continue
            target = Path(os.path.realpath(path))
            if not target.exists():
                self.broken.append((path, os.readlink(path)))
            elif not target.is_dir():
                out.append((path, False))
            elif any(_inside(target, seen) or _inside(seen, target) for seen in self._walked):
                self.looped.append((path, target))
            else:
                self._walked.add(target)
                out.append((path, True))
        return out

    def files(self, directory: Path) -> list[Path]:
        """Every file under `directory` (recursively), in a stable order."""
        found = []
        for path, is_dir in self.entries(directory):
            if is_dir:
                found.extend(self.files(path))
            else:
                found.append(path)
        return found

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


HEAD_BYTES = 1 << 16
"""Files of one size are first told apart by their first 64 KiB; only those still alike are read in full."""


def _digest(path: Path, limit: int | None = None) -> bytes:
    digest, left = hashlib.blake2b(digest_size=20), limit
    with open(path, "rb") as fh:
        while block := fh.read(min(1 << 20, left) if left is not None else 1 << 20):
            digest.update(block)
            if left is not None:
                left -= len(block)
                if left <= 0:
                    break
    return digest.digest()


def _same_bytes(paths: list[Path], limit: int | None) -> list[list[Path]]:
    """`paths` grouped by the digest of their first `limit` bytes (all when None); groups of one are dropped."""
    groups: dict[bytes, list[Path]] = defaultdict(list)
    for path in paths:
        try:
            groups[_digest(path, limit)].append(path)
        except OSError:
            continue
    return [group for group in groups.values() if len(group) > 1]


def identical_files(paths: list[Path]) -> dict[Path, Path]:
    """copy -> original for every file whose bytes equal an earlier one's in `paths` (the first one is the original).

    Only files that share their size with another are read (first their head, then in full if still alike); empty
    and unreadable files are left out.
    """
    by_size: dict[int, list[Path]] = defaultdict(list)
    for path in paths:
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if size:
            by_size[size].append(path)
    copies: dict[Path, Path] = {}
    for size, same_size in by_size.items():
        if len(same_size) < 2:
            continue
        for same_head in _same_bytes(same_size, HEAD_BYTES):
            for same in [same_head] if size <= HEAD_BYTES else _same_bytes(same_head, None):
                copies.update({copy: same[0] for copy in same[1:]})
    return copies


def fingerprint_tree(root: Path) -> dict:
    """Cheap fingerprint of a directory tree: file count and a hash of (relative path, size, mtime in ns).

    Walked like the readers walk it (hidden entries skipped, looping symlinks not followed), so a change the readers
    would see changes it; a mere `touch` re-runs prepare at worst (whose output is then unchanged).
    """
    walker = TreeWalker(root)
    digest, count = hashlib.sha256(), 0
    for path in walker.files(root):
        try:
            st = path.stat()
        except OSError:
            continue
        digest.update(f"{walker.relative(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode(errors="surrogateescape"))
        count += 1
    for link, target in walker.broken:
        digest.update(f"{walker.relative(link)}\0-> {target}\n".encode(errors="surrogateescape"))
    return {"files": count, "sha256": digest.hexdigest()}


def fingerprint_source(source: str, root: str | None) -> dict:
    """What the `fingerprint` stage writes: a local data.root's fingerprint; for the other sources only their name
    (their data is data/raw, an output DVC hashes itself)."""
    if source != "local":
        return {"source": source}
    path = Path(root or "").expanduser()
    if not root or not path.is_dir():
        hint = (
            ""
            if path.is_absolute()
            else f" (relative to {Path.cwd()}: a queued experiment runs in a copy of the project elsewhere, so give "
            "an absolute path)"
        )
        raise DataError(f"data.root: {path} is not a directory{hint}")
    return {"source": "local", "root": str(path.resolve()), **fingerprint_tree(path)}
