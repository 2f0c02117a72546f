"""Atomic file and directory writes: outputs appear complete or not at all.

Temp entries are named ``.<name>.tmp-<pid>-<random>`` beside the output (``.<name>.old-<pid>-<random>`` for the
replaced one while it is swapped out). One left by a killed process is never mistaken for the output (DVC tracks
only ``<name>``) and is removed by the next write of the same output once its process has exited.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

FAULT_KILL_ENV = "FINEGRAIN_FAULT_KILL_IN_ATOMIC_DIR"
"""Fault injection for tests: SIGKILL this process when atomic_dir(<dir name>) is complete but not yet in place."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_stale_temps(final: Path) -> list[Path]:
    """Delete temp entries of `final` left by processes that no longer run (a kill -9); return them."""
    removed = []
    for kind in ("tmp", "old"):
        for path in final.parent.glob(f".{glob.escape(final.name)}.{kind}-*"):
            pid = path.name[len(f".{final.name}.{kind}-") :].split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                _remove(path)
                removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Yield a temp dir beside `final`; on success replace `final` with it, on error delete it.

    The previous `final` stays in place until the new one is complete (a kill before that keeps it).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final)  # first, so a killed run's leftovers free their space before this one writes
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-{os.getpid()}-", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if os.environ.get(FAULT_KILL_ENV) == final.name:
        os.kill(os.getpid(), signal.SIGKILL)
    old = None
    if final.exists() or final.is_symlink():
        old = final.with_name(f".{final.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        _remove(old)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """Yield a binary file in `path`'s directory; on success fsync it and rename it over `path`, on error delete it
    (so a large payload streams to disk without a copy in memory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes to a temp file in the same directory, fsync, then rename over `path`."""
    with atomic_file(path) as fh:
        fh.write(data)


def write_json(path: str | Path, obj: Any) -> None:
    """Atomically write pretty, key-sorted JSON (stable bytes for identical content)."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def file_md5(path: str | Path, chunk: int = 1 << 20) -> str:
    """md5 of a file's bytes."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
