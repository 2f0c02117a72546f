"""`write_metrics`: how every stage script writes what its library function returns.

Quality goes to metrics/<stage>.json (or metrics/variants/<v>.json), timings to data/perf/<stage>.json (or
data/perf/variants/<v>.json). Timings differ on every run and machine; only the quality file is a DVC metric, so
`dvc metrics diff` and `dvc exp show` show quality changes only and a rerun's quality file is bit-identical.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from finegrain.atomic import write_json

TIMING_KEY = re.compile(r"(^|_)(s|ms_per_img|per_s)(_std)?$|^(device|machine|test_batch)$")
"""Keys holding a duration or a rate (time_s, train_s, epoch_time_s, infer_ms_per_img, img_per_s) or its spread
over seeds (epoch_time_s_std), where it was measured (device, machine) or what a timing probe chose (test_batch)."""


def split_timings(metrics: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(quality, timings) of a nested metrics dict; a nested dict goes to each side that gets any of its keys."""
    quality: dict[str, Any] = {}
    timings: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            q, t = split_timings(value)
            if q or not t:
                quality[key] = q
            if t:
                timings[key] = t
        elif TIMING_KEY.search(key):
            timings[key] = value
        else:
            quality[key] = value
    return quality, timings


def write_metrics(metrics: dict[str, Any], quality_path: Path, perf_path: Path | None = None) -> None:
    """Quality to `quality_path`, timings to `perf_path`, each written atomically (stable bytes).

    A stage without a perf file (perf_path None) must return no timings.
    """
    quality, timings = split_timings(metrics)
    if perf_path is None:
        if timings:
            raise ValueError(f"{quality_path}: timings {sorted(timings)} need a perf file")
    else:
        write_json(perf_path, timings)
    write_json(quality_path, quality)
