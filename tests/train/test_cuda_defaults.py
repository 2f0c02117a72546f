"""The CUDA defaults (precision auto, TF32, cudnn.benchmark) as rules checked on the CPU, and `train.compile`."""

from __future__ import annotations

import json
import platform
import warnings

import pytest
import torch
from conftest import two_class_sets

from finegrain.models.factory import create_model
from finegrain.runtime import cuda_defaults, resolve_device, seed_everything
from finegrain.train import compute as compute_mod
from finegrain.train import loop
from finegrain.train.compute import PROBE_VERSION, Compute, Probe, auto_precision
from finegrain.train.config import TrainCfg
from finegrain.train.loop import fit

CUDA = torch.device("cuda")


def _cfg(**kw) -> TrainCfg:
    base = dict(data="prepared", init="none", epochs=2, batch_size=8, lr=0.05, optimizer="sgd", augment="none")
    return TrainCfg(**{**base, "image_size_px": 24, **kw})


@pytest.mark.parametrize(("bf16", "expected"), [(True, "bf16"), (False, "fp16")])
def test_auto_precision_on_cuda_is_bf16_where_supported_else_fp16_with_a_scaler(monkeypatch, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert auto_precision(CUDA) == expected
    with warnings.catch_warnings():  # a GradScaler made without a GPU warns that it is disabled
        warnings.simplefilter("ignore", UserWarning)
        chosen = Compute.of(_cfg(memory_format="contiguous"), CUDA)
    assert chosen.autocast == compute_mod.DTYPES[expected]
    assert (chosen.scaler is not None) == (expected == "fp16")
    assert Compute.of(_cfg(memory_format="contiguous"), CUDA, train=False).scaler is None  # inference: no scaler


def test_auto_precision_stays_fp32_on_cpu_and_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert auto_precision(torch.device("cpu")) == auto_precision(torch.device("mps")) == "fp32"
    assert Compute.of(_cfg(memory_format="contiguous"), torch.device("cpu")) == Compute()


def test_cpu_probe_keys_are_unchanged_so_cached_cpu_choices_stay(monkeypatch):
    probe = Probe("small_cnn", 24, 8, "cpu")
    machine = f"{platform.node()}|{platform.processor() or platform.machine()}|{torch.__version__}"
    text = json.dumps([PROBE_VERSION, machine, torch.get_num_threads(), *probe.__dict__.values()])
    import hashlib

    assert probe.key() == hashlib.sha256(text.encode()).hexdigest()[:16]  # the version-1 formula
    assert Probe("small_cnn", 24, 8, "cuda").key() != Probe("small_cnn", 24, 8, "cpu").key()


def test_cuda_layout_auto_compares_the_layouts_at_the_auto_precision(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    rates = {
        "contiguous fp32": 100.0,
        "channels_last fp32": 100.0,
        "contiguous fp16": 100.0,
        "channels_last fp16": 150.0,
    }
    monkeypatch.setattr(compute_mod, "measured", lambda probe: rates)
    assert compute_mod.choose(Probe("small_cnn", 24, 8, "cuda"), "auto", "auto") == ("channels_last", "fp16")
    assert compute_mod.choose(Probe("small_cnn", 24, 8, "cuda"), "auto", "fp32") == ("contiguous", "fp32")


@pytest.fixture
def cuda_flags():
    saved = (
        torch.get_float32_matmul_precision(),
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
    )
    yield
    torch.set_float32_matmul_precision(saved[0])
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved[1:]


def test_tf32_and_cudnn_benchmark_are_set_for_cuda_only(cuda_flags):
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.benchmark = False
    torch.set_float32_matmul_precision("highest")
    assert resolve_device("cpu") == torch.device("cpu")
    assert not cuda_defaults(torch.device("cpu"))
    assert torch.get_float32_matmul_precision() == "highest" and not torch.backends.cudnn.benchmark  # CPU: untouched
    assert cuda_defaults(CUDA)  # sets process flags only: no GPU needed
    assert torch.get_float32_matmul_precision() == "high"
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32 and torch.backends.cudnn.benchmark
    cuda_defaults(CUDA, benchmark=False)  # varying input shapes (detection)
    assert not torch.backends.cudnn.benchmark


def test_compile_trains_through_torch_compile_with_the_same_results(tmp_path, monkeypatch):
    """Inductor takes ~80 s to compile even this model on a busy CPU, so the test compiles with aot_eager (dynamo's
    graph capture and AOT autograd, without code generation): the path `train.compile` takes, minus the codegen."""
    monkeypatch.setattr(compute_mod, "COMPILE_BACKEND", "aot_eager")
    trainers = []
    real_pass = loop._SeedRun._pass

    def recording(self, net, loader, opt=None):
        if opt is not None:
            trainers.append(net)
        return real_pass(self, net, loader, opt)

    monkeypatch.setattr(loop._SeedRun, "_pass", recording)
    rows = {}
    for compiled in (False, True):
        torch._dynamo.reset()
        seed_everything(0)
        model = create_model("small_cnn", 2)
        history, best = fit(
            model, *two_class_sets(), _cfg(compile=compiled), 0, torch.device("cpu"), tmp_path / f"{compiled}.pt"
        )
        rows[compiled] = history.rows
        assert isinstance(trainers[-1], torch._dynamo.eval_frame.OptimizedModule) == compiled
        assert set(best) == set(model.state_dict())  # the state dict keeps the model's own keys (no _orig_mod.)
    for a, b in zip(rows[False], rows[True], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_acc"] == b["val_acc"]
