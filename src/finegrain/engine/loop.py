"""`run_epochs`: the resumable epoch loop under every training loop; the caller supplies only its epoch's step.

Each epoch gets its seed from `epoch_seed`; after an epoch its row goes to `on_epoch` (dvclive) and, every
`checkpoint_every` epochs, the rows and the caller's state go atomically to a resume state keyed by the run
(`finegrain.train.checkpoint.run_key`: config, input data and code), copied to the CPU on the loop's thread and
written in a background thread (`engine.writer`) while the next epoch runs. A later call with the same path resumes
after the last saved epoch and replays the saved rows into `on_epoch` first.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm import tqdm

from finegrain.engine.progress import logs_above, progress
from finegrain.engine.writer import StateWriter
from finegrain.train.checkpoint import load_state

log = logging.getLogger(__name__)


class Resumable(Protocol):
    """What a resume state holds: anything with a state dict (a model, an optimizer, a scheduler, `TorchRNG`)."""

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> None: ...


class TorchRNG:
    """The global CPU RNG of torch as a `Resumable` (for steps that draw from it, e.g. random flips)."""

    def state_dict(self) -> torch.Tensor:
        return torch.get_rng_state()

    def load_state_dict(self, state: torch.Tensor) -> None:
        torch.set_rng_state(state)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of 0-based `epoch` of a run seeded `seed` (shuffling, augmentation draws)."""
    return seed * 100_003 + epoch


@dataclass
class Epoch:
    """One epoch as its step sees it: 0-based `index`, its `seed`, and `stop` to end the run after it."""

    index: int
    seed: int
    bar: tqdm
    stepwise: bool
    stop: bool = False

    def advance(self, postfix: Mapping[str, float] | None = None) -> None:
        """One batch done (loops with `steps_per_epoch`): move the bar, show `postfix` beside it."""
        self.bar.update(1)
        if postfix:
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in postfix.items()}, refresh=False)


def run_epochs(
    step: Callable[[Epoch], dict],
    epochs: int,
    seed: int,
    *,
    state: Mapping[str, Resumable] | None = None,
    state_path: Path | None = None,
    initial: Callable[[], list[dict]] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    checkpoint_every: int = 1,
    saves: bool = True,
    on_saved: Callable[[int, Callable[[], None]], None] | None = None,
    desc: str = "train",
    steps_per_epoch: int | None = None,
    postfix: tuple[str, ...] = (),
) -> list[dict]:
    """Run `step` for each epoch not done yet; return every epoch's row ({"epoch": 1-based, **step's row}).

    `state` names what the resume state holds besides the rows (saved at `state_path` when `saves`, e.g. on the
    main process only; no resume without a path). `initial` gives rows before the first epoch (e.g. a random-init
    baseline), computed on a fresh start only. A row gets the epoch's wall time as `epoch_time_s` unless the step
    sets it, and the seconds its resume-state save cost the loop as `checkpoint_time_s` (0 in the saved copy): the
    wait for the previous write plus the CPU copy; the write itself overlaps the next epoch and is joined before
    the next save and before returning (or raising). With `steps_per_epoch` the bar counts batches (the step calls
    `Epoch.advance`), else epochs, showing the row's `postfix` keys. `on_saved(epoch, flush)` runs after each
    epoch's save point; `flush()` waits until the state is on disk (fault injection in tests).
    """
    state = state or {}
    saved = load_state(state_path) if state_path is not None else None
    if saved is not None:
        for name, obj in state.items():
            obj.load_state_dict(saved[name])
        rows, start = list(saved["history"]), int(saved["epoch"])
        log.info("%s: resuming from %s after epoch %d", desc, state_path, start)
    else:
        rows, start = (initial() if initial else []), 0
    for row in rows:
        if on_epoch:
            on_epoch(row)
    per = steps_per_epoch or 1
    bar = progress(desc=desc, total=epochs * per, initial=start * per, unit="step" if steps_per_epoch else "epoch")
    writer = StateWriter()
    try:
        with logs_above(bar), bar:
            for index in range(start, epochs):
                epoch = Epoch(index, epoch_seed(seed, index), bar, steps_per_epoch is not None)
                t0 = time.perf_counter()
                row = {"epoch": index + 1, **step(epoch)}
                row.setdefault("epoch_time_s", time.perf_counter() - t0)
                rows.append(row)
                if not epoch.stepwise:
                    bar.update(1)
                    bar.set_postfix({k: f"{row[k]:.3f}" for k in postfix if k in row}, refresh=False)
                if (
                    saves
                    and state_path is not None
                    and (epoch.stop or (index + 1) % checkpoint_every == 0 or index + 1 == epochs)
                ):
                    done = epochs if epoch.stop else index + 1
                    t0 = time.perf_counter()
                    row["checkpoint_time_s"] = 0.0  # the saved row holds 0; this run's rows what the save cost
                    state_now = {n: obj.state_dict() for n, obj in state.items()}
                    writer.save(state_path, {**state_now, "history": rows, "epoch": done})
                    row["checkpoint_time_s"] = time.perf_counter() - t0
                row.setdefault("checkpoint_time_s", 0.0)
                if on_epoch:
                    on_epoch(row)
                if on_saved:
                    on_saved(index + 1, writer.wait)
                if epoch.stop:
                    break
    except BaseException:
        with contextlib.suppress(Exception):  # the error in flight matters more than a failed write
            writer.wait()
        raise
    t0 = time.perf_counter()
    writer.wait()  # the last write is not overlapped by an epoch: its wait counts to the last row's save
    if rows and rows[-1].get("checkpoint_time_s"):
        rows[-1]["checkpoint_time_s"] += time.perf_counter() - t0
    return rows
