"""dvclive: one way to open a run's metric log and write a row of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_live(directory: Path) -> Any:
    """A dvclive Live writing to `directory` (no dvc.yaml edit, no DVC experiment, no report, a fresh start)."""
    from dvclive import Live

    return Live(dir=str(directory), dvcyaml=False, save_dvc_exp=False, report=None, resume=False)


def log_metrics(live: Any, step: int, metrics: dict[str, float], next_step: bool = False) -> None:
    """Log `metrics` at `step`; with `next_step` also close the step (dvclive writes its summary then)."""
    live.step = step
    for name, value in metrics.items():
        live.log_metric(name, value)
    if next_step:
        live.next_step()
