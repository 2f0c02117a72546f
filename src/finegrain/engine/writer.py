"""`StateWriter`: resume states written in a background thread, so a save costs the training loop only a copy.

`save` snapshots the state on the calling thread (every tensor copied to the CPU, so the next steps can change the
weights and the optimizer in place meanwhile), then a thread streams it to disk with `torch_io.save_state` (a temp
file, fsync, rename: a kill at any moment leaves the previous complete state or the new one). One write is in flight
at a time: `save` and `wait` join the previous one first and re-raise its error. Written by hand (a thread and a
join) because the standard ones, e.g. torch.distributed.checkpoint's async_save, need a process group and write a
directory of shards, not one file that `torch.load(weights_only=True)` reads.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import torch

from finegrain.torch_io import save_state


def cpu_copy(obj: Any) -> Any:
    """`obj` with every tensor (in dicts, lists, tuples) replaced by a CPU copy that shares nothing with it."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(cpu_copy(v) for v in obj)
    return obj


class StateWriter:
    """Writes states to files in one background thread; `wait` before reading a file it writes."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def save(self, path: Path, state: dict[str, Any]) -> None:
        """Join the previous write (re-raising its error), copy `state` to the CPU, and write it in a thread."""
        self.wait()
        snapshot = cpu_copy(state)
        self._thread = threading.Thread(target=self._write, args=(path, snapshot), name="state-writer", daemon=True)
        self._thread.start()

    def _write(self, path: Path, snapshot: dict[str, Any]) -> None:
        try:
            save_state(path, snapshot)
        except BaseException as err:  # re-raised on the training thread by `wait`
            self._error = err

    def wait(self) -> None:
        """Block until the write in flight (if any) is on disk; re-raise its error."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
