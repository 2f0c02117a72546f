"""Every stage that runs a model runs it on the device the params name (base.device; crop.device for crop).

Each such stage records where its model actually ran (read off the model's parameters, not copied from params);
on this CPU-only machine the tiny pipeline's `auto` must resolve to the CPU everywhere.
"""

from __future__ import annotations

import json
import sys

import pytest
import torch
import yaml
from conftest import REPO

from finegrain import paths
from finegrain.runtime import resolve_device

sys.path.append(str(REPO / "tests" / "reliability"))
from battery import run_stage_here, write_params  # noqa: E402

DEVICE_STAGES = {"crop": "crop", "generate": "base", "pretrain": "base", "train": "base", "evaluate": "base"}
"""Stages that run a model, and the params group whose `device` they use."""


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


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(DEVICE_STAGES))
def test_each_stage_runs_on_the_device_its_params_name(tiny_project, stage):
    params = yaml.safe_load((tiny_project / "params.yaml").read_text())
    named = params[DEVICE_STAGES[stage]]["device"]
    assert _recorded(tiny_project, stage) == str(resolve_device(named))


@pytest.mark.parametrize(("stage", "group"), list(DEVICE_STAGES.items()))
def test_each_stage_refuses_a_cuda_device_this_machine_lacks(tmp_path, stage, group):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    write_params(tmp_path, {group: {"device": "cuda"}})
    outcome = run_stage_here(tmp_path, stage, *(["cnn"] if stage in ("train", "evaluate") else []))
    assert outcome.error == (
        f"error: params.yaml: {group}.device: 'cuda' is not available on this machine (torch finds no CUDA device); "
        "use auto or cpu"
    )
    assert not (tmp_path / "data").exists()  # refused before any work
