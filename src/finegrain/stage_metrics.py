"""A stage's metrics split in two files: quality to metrics/<stage>.json, timings to metrics/<stage>.perf.json.

Timings differ on every run and machine; keeping them out of the quality file keeps `dvc metrics diff` meaningful
and a rerun's quality file bit-identical (as for variants: metrics/<v>.json vs metrics/<v>.perf.json).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from finegrain import paths
from finegrain.atomic import write_json

TIMING_KEY = re.compile(r"(^|_)(s|ms_per_img|per_s)$")
"""Keys holding a duration or a rate: time_s, train_s, epoch_time_s, infer_ms_per_img, img_per_s."""


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


def write_stage_metrics(stage: str, metrics: dict[str, Any], folder: Path | None = None) -> None:
    """metrics/<stage>.json (quality) and metrics/<stage>.perf.json (timings), each written atomically."""
    folder = paths.METRICS if folder is None else folder
    quality, timings = split_timings(metrics)
    write_json(folder / f"{stage}.json", quality)
    write_json(folder / f"{stage}.perf.json", timings)
