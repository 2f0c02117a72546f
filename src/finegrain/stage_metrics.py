"""A stage's metrics split in two files: quality to metrics/<stage>.json, timings to data/perf/<stage>.json.

Timings differ on every run and machine; only the quality file is a DVC metric, so `dvc metrics diff` and
`dvc exp show` show quality changes only and a rerun's quality file is bit-identical (as for variants:
metrics/variants/<v>.json vs data/perf/variants/<v>.json).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from finegrain import paths
from finegrain.atomic import write_json

TIMING_KEY = re.compile(r"(^|_)(s|ms_per_img|per_s)$|^(device|machine)$")
"""Keys holding a duration or a rate (time_s, train_s, epoch_time_s, infer_ms_per_img, img_per_s), or where it was
measured (device, machine)."""


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


def write_stage_metrics(
    stage: str, metrics: dict[str, Any], metrics_dir: Path = paths.METRICS, perf_dir: Path = paths.PERF
) -> None:
    """<metrics_dir>/<stage>.json (quality) and <perf_dir>/<stage>.json (timings), each written atomically."""
    quality, timings = split_timings(metrics)
    write_json(metrics_dir / f"{stage}.json", quality)
    write_json(perf_dir / f"{stage}.json", timings)
