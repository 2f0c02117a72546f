"""Every stage that runs a model runs it on the device the params name (base.device; crop.device for crop).

Each such stage records where its model actually ran (read off the model's parameters, not copied from params);
on this CPU-only machine the tiny pipeline's `auto` must resolve to the CPU everywhere.
"""

from __future__ import annotations

import json

import pytest
import yaml

from finegrain import paths
from finegrain.runtime import resolve_device

pytestmark = pytest.mark.slow


def _recorded(project, stage: str) -> str:
    """The device a stage's model ran on, as the stage recorded it."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    variant = next(iter(params["variants"]))
    where = {
        "crop": (project / paths.PERF / "crop.json", ("detector", "device")),
        "generate": (project / paths.PERF / "generate.json", ("device",)),
        "pretrain": (project / paths.PERF / "pretrain.json", ("device",)),
        "train": (project / paths.model_dir(variant) / "summary.json", ("device",)),
        "evaluate": (project / paths.variant_perf(variant), ("device",)),
    }
    path, keys = where[stage]
    record = json.loads(path.read_text())
    for key in keys:
        record = record[key]
    return record


@pytest.mark.parametrize("stage", ["crop", "generate", "pretrain", "train", "evaluate"])
def test_each_stage_runs_on_the_device_its_params_name(tiny_project, stage):
    params = yaml.safe_load((tiny_project / "params.yaml").read_text())
    named = params["crop"]["device"] if stage == "crop" else params["base"]["device"]
    assert _recorded(tiny_project, stage) == str(resolve_device(named))
