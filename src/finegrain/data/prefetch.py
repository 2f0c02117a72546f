"""Load the next batches in a background thread while the model computes, without changing any random draw.

A DataLoader with `num_workers: 0` transforms every image in the main process, between the model's steps: the
model waits for the data. `Ahead` moves that loading to a thread once the caller has shown (`go`) that its step
draws nothing from the global random generators (torch CPU, NumPy, Python `random`), so the augmentation draws
stay in the same order and the run gives the same numbers. A step that draws (dropout, random attacks, random
triplet mining) keeps the data in the main thread.
"""

from __future__ import annotations

import contextlib
import queue
import random
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

_END = object()


def rng_states() -> tuple:
    """The global generators' states (torch CPU, NumPy, Python), to compare before and after a step."""
    return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()


def same_states(a: tuple, b: tuple) -> bool:
    return torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


class Ahead:
    """Iterate `batches` in this thread until `go()`, then `depth` batches ahead in a background thread."""

    def __init__(self, batches: Iterable, depth: int = 2) -> None:
        self._it: Iterator = iter(batches)
        self._depth = depth
        self._queue: queue.Queue | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def go(self) -> None:
        """Load the remaining batches in a background thread from now on."""
        if self._thread is not None:
            return
        self._queue = queue.Queue(self._depth)
        self._thread = threading.Thread(target=self._fill, name="finegrain-prefetch", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        try:
            for item in self._it:
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._queue.put(_END)
        except BaseException as err:  # noqa: BLE001 - re-raised in the consumer's thread
            self._queue.put(err)

    def __iter__(self) -> Ahead:
        return self

    def __next__(self) -> Any:
        if self._queue is None:
            return next(self._it)
        item = self._queue.get()
        if item is _END:
            self._thread.join()
            raise StopIteration
        if isinstance(item, BaseException):
            self._thread.join()
            raise item
        return item

    def close(self) -> None:
        """Stop the background thread (a consumer that ends early)."""
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                with contextlib.suppress(queue.Empty):
                    self._queue.get(timeout=0.1)
            self._thread.join()
