"""DDP via torchrun: 2 CPU processes (gloo, 127.0.0.1, a free port) train like 1 process with the same global batch."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
import torch
from conftest import TINY_OVERRIDES, deep_merge, make_project, run
from torch.utils.data import TensorDataset

from finegrain.errors import ConfigError
from finegrain.models.factory import create_model
from finegrain.runtime import seed_everything
from finegrain.train.config import TrainCfg
from finegrain.train.distributed import SINGLE, Dist, sync_batchnorm
from finegrain.train.loop import _train_loader

DDP_VARIANT = {
    "data": "prepared",
    "init": "none",
    "model": "small_cnn",
    "model_args": {"norm": "group"},  # no BatchNorm: per-process batch statistics would differ
    "augment": "none",
    "memory_format": "contiguous",  # channels_last (the default params') reorders float sums: DDP vs 1 process drifts
    "epochs": 2,
    "batch_size": 16,
    "optimizer": "sgd",  # AdamW divides by sqrt(v): float rounding in near-zero gradients grows to ~lr-sized steps
    "lr": 0.05,
}


def test_ddp_shares_are_the_single_process_batches():
    cfg = TrainCfg(data="prepared", init="none", batch_size=8)
    data = TensorDataset(torch.arange(37))
    single = [b[0].tolist() for b in _train_loader(data, cfg, 123, SINGLE)]
    ranks = [[b[0].tolist() for b in _train_loader(data, cfg, 123, Dist(r, 2, r))] for r in range(2)]
    assert len(single) == len(ranks[0]) == len(ranks[1]) == 37 // 8
    for step, batch in enumerate(single):
        assert sorted(ranks[0][step] + ranks[1][step]) == sorted(batch)
        assert len(ranks[0][step]) == len(ranks[1][step]) == 4
    assert single != [b[0].tolist() for b in _train_loader(data, cfg, 124, SINGLE)]  # the epoch seed reshuffles


UNIT_ROUNDOFF = 2.0**-24
"""float32's unit roundoff u: a sum of n terms is off by at most about n * u of the sum of their magnitudes."""


@pytest.mark.slow
def test_train_stage_with_nproc_2_runs_torchrun_and_matches_one_process(tmp_path):
    """One SGD step on the same 16 images: 2 processes x 8 (gloo all-reduce) vs 1 process x 16 differ only in the
    order of the gradient's sums, so the weights agree to n * u of the step (n: the terms a gradient element sums,
    batch x the largest layer's output positions), a bound from float32 and the computation's length, not a
    tolerance tuned on one machine."""
    one_step = {**DDP_VARIANT, "epochs": 1, "train_images": 16}
    variants = {"one": one_step, "two": {**one_step, "nproc": 2}}
    project = make_project(tmp_path / "p", deep_merge(TINY_OVERRIDES, {"variants": variants, "report": {"claims": []}}))
    env = {"PYTHONPATH": str(project / "src"), "FINEGRAIN_THREADS": "1", "OMP_NUM_THREADS": "1"}
    run([sys.executable, "stages/prepare.py"], project, env=env)
    run([sys.executable, "stages/train.py", "one"], project, env=env)
    two = run([sys.executable, "stages/train.py", "two"], project, env=env)
    assert "torch.distributed.run" in two.stderr and "--nproc_per_node=2" in two.stderr
    assert "--master_addr=127.0.0.1" in two.stderr

    models = project / "data" / "models"
    summary = json.loads((models / "two" / "summary.json").read_text())
    assert summary["nproc"] == 2 and json.loads((models / "one" / "summary.json").read_text())["nproc"] == 1
    one_state = torch.load(models / "one" / "seed0" / "last.pt", weights_only=True)["state_dict"]
    two_state = torch.load(models / "two" / "seed0" / "last.pt", weights_only=True)["state_dict"]
    seed_everything(0)
    init = create_model("small_cnn", 6, model_args={"norm": "group"}).state_dict()
    size = TINY_OVERRIDES["train"]["image_size_px"]
    n = one_step["batch_size"] * size * size  # the first conv's weight gradient sums batch x 32 x 32 products
    trained = 0
    for key, value in one_state.items():
        step = (value - init[key]).abs().max().item()  # 0 for buffers (e.g. the input normalisation)
        trained += step > 0
        torch.testing.assert_close(two_state[key], value, atol=n * UNIT_ROUNDOFF * step, rtol=0, msg=key)
    assert trained >= len([k for k in one_state if k.endswith("weight")])  # the step moved every weight
    hist_one = pd.read_csv(models / "one" / "seed0" / "history.csv")
    hist_two = pd.read_csv(models / "two" / "seed0" / "history.csv")
    assert hist_two["train_acc"].tolist() == hist_one["train_acc"].tolist()  # the same weights predicted
    batch = one_step["batch_size"]  # the step's loss: a mean of 16 vs the mean of two means of 8
    assert hist_two["train_loss"].tolist() == pytest.approx(hist_one["train_loss"].tolist(), rel=batch * UNIT_ROUNDOFF)
    assert not (project / "data" / "ckpt" / "two").exists()  # rank 0 cleaned the resume state
    assert sorted(p.name for p in (project / "data" / "live").iterdir()) == ["one", "two"]


@pytest.mark.slow
def test_stage_fails_in_one_line_when_torchrun_processes_fail(tmp_path):
    variants = {"two": {**DDP_VARIANT, "nproc": 2, "sync_batchnorm": True}}
    project = make_project(tmp_path / "p", deep_merge(TINY_OVERRIDES, {"variants": variants, "report": {"claims": []}}))
    env = {"PYTHONPATH": str(project / "src"), "FINEGRAIN_THREADS": "1", "OMP_NUM_THREADS": "1"}
    run([sys.executable, "stages/prepare.py"], project, env=env)
    failed = run([sys.executable, "stages/train.py", "two"], project, check=False, env=env)
    assert failed.returncode == 2
    assert "error: sync_batchnorm: SyncBatchNorm runs on CUDA only (device cpu)" in failed.stderr
    assert failed.stderr.strip().splitlines()[-1].startswith("error: nproc: 2 torchrun processes of ")


def test_sync_batchnorm_needs_cuda():
    model = create_model("small_cnn", 3)
    with pytest.raises(ConfigError, match=r"^sync_batchnorm: SyncBatchNorm runs on CUDA only \(device cpu\)"):
        sync_batchnorm(model, torch.device("cpu"))


def test_global_batch_must_divide_among_processes():
    from finegrain.train.config import resolve_variant

    with pytest.raises(ConfigError, match=r"batch_size: the global batch must be divisible by nproc \(3\) \(got 16\)"):
        resolve_variant("v", {}, {**DDP_VARIANT, "nproc": 3})


def test_small_cnn_norm_option():
    group = create_model("small_cnn", 3, model_args={"norm": "group"})
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in group.modules())
    assert any(isinstance(m, torch.nn.GroupNorm) for m in group.modules())
    from finegrain.errors import FinegrainError

    with pytest.raises(FinegrainError, match=r"model_args: norm: expected one of batch, group, none \(got 'layer'\)"):
        create_model("small_cnn", 3, model_args={"norm": "layer"})
