"""The engine: the warm-up + cosine schedule, the resumable epoch loop, quiet progress bars."""

from __future__ import annotations

import math

import pytest
import torch

from finegrain.engine.loop import Epoch, TorchRNG, epoch_seed, run_epochs
from finegrain.engine.progress import progress
from finegrain.engine.schedule import warmup_cosine, warmup_cosine_at, warmup_cosine_scheduler


def test_warmup_cosine_warms_linearly_then_decays_to_zero():
    assert [warmup_cosine(s, 10, 2) for s in (0, 1)] == [0.5, 1.0]
    assert warmup_cosine(6, 10, 2) == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert warmup_cosine(10, 10, 2) == 0.0 and warmup_cosine(12, 10, 2) == 0.0
    assert warmup_cosine_at(0, 0, 0.0, peak=3.0) == 3.0  # no warm-up
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched, lrs = warmup_cosine_scheduler(opt, 4, 1), []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == [0.1 * warmup_cosine(s, 4, 1) for s in range(4)]


class _Counter:
    """A resumable 'model': a running sum fed by seeded random draws."""

    def __init__(self) -> None:
        self.total = torch.zeros(())

    def state_dict(self) -> dict:
        return {"total": self.total}

    def load_state_dict(self, state: dict) -> None:
        self.total = state["total"]


def _run(path, epochs: int, fail_at: int | None = None, seen: list | None = None):
    counter = _Counter()

    def step(epoch: Epoch) -> dict:
        if epoch.index == fail_at:
            raise KeyboardInterrupt
        draw = torch.rand((), generator=torch.Generator().manual_seed(epoch.seed)) + torch.rand(())
        counter.total = counter.total + draw
        return {"total": float(counter.total), "epoch_time_s": 0.0}

    return run_epochs(
        step,
        epochs,
        3,
        state={"c": counter, "rng": TorchRNG()},
        state_path=path,
        on_epoch=seen.append if seen is not None else None,
    )


def test_run_epochs_resumes_exactly_and_replays_saved_rows(tmp_path):
    torch.manual_seed(0)
    straight = _run(tmp_path / "a.pt", 4)
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "b.pt", 4, fail_at=2)
    torch.manual_seed(123)  # the saved RNG state wins
    seen: list = []
    resumed = _run(tmp_path / "b.pt", 4, seen=seen)
    untimed = lambda rows: [{k: v for k, v in r.items() if k != "checkpoint_time_s"} for r in rows]  # noqa: E731
    assert untimed(resumed) == untimed(straight) and [r["epoch"] for r in seen] == [1, 2, 3, 4]
    assert all(r["checkpoint_time_s"] > 0 for r in straight)
    assert epoch_seed(3, 2) == 3 * 100_003 + 2


def test_a_stopped_run_is_saved_as_finished(tmp_path):
    calls = []

    def step(epoch: Epoch) -> dict:
        calls.append(epoch.index)
        epoch.stop = epoch.index == 1
        return {}

    rows = run_epochs(step, 5, 0, state_path=tmp_path / "s.pt")
    assert calls == [0, 1] and [r["epoch"] for r in rows] == [1, 2]
    assert torch.load(tmp_path / "s.pt", weights_only=True)["epoch"] == 5
    again = run_epochs(step, 5, 0, state_path=tmp_path / "s.pt")
    assert [r["epoch"] for r in again] == [1, 2] and calls == [0, 1]


def test_progress_is_quiet_when_stderr_is_not_a_terminal():
    assert progress(range(3), "x").disable  # pytest captures stderr: not a TTY


def _log_once_per_epoch(script: str) -> list[str]:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return [line for line in done.stderr.splitlines() if "epoch " in line]


LOGGING_RUN = """
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
import colorama
colorama.init()  # what dvclive's import does to sys.stderr in a stage: the root handler keeps the original stream
{force}
from finegrain.engine.loop import run_epochs
log = logging.getLogger("finegrain.x")
def step(e):
    log.info("epoch %d", e.index)
    return {{}}
run_epochs(step, 2, 0)
"""


@pytest.mark.parametrize("bar_shown", [False, True])
def test_each_log_line_prints_once_beside_the_progress_bar(bar_shown):
    """A stage's log held every epoch line twice (tqdm's redirect missed the handler of a wrapped stderr)."""
    force = "import tqdm, functools; tqdm.tqdm.__init__ = functools.partialmethod(tqdm.tqdm.__init__, disable=False)"
    lines = _log_once_per_epoch(LOGGING_RUN.format(force=force if bar_shown else ""))
    assert lines == ["finegrain.x: epoch 0", "finegrain.x: epoch 1"], lines
