"""train.memory_format / train.precision: the same training in another layout or autocast dtype."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from finegrain import numerics
from finegrain.augment.recipes import create_transforms
from finegrain.data.transformed import Transformed
from finegrain.errors import ConfigError
from finegrain.models.factory import create_model
from finegrain.runtime import seed_everything
from finegrain.train.compute import Compute
from finegrain.train.config import TrainCfg
from finegrain.train.loop import fit

SIZE = 24


def _sets():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (24, 3, SIZE, SIZE), dtype=torch.uint8, generator=g)
    labels = torch.arange(24) % 2
    images[labels == 1, 1] //= 3  # learnable: class 1 is less green
    tf = create_transforms("none", SIZE, train=False)
    train, val = TensorDataset(images[:16], labels[:16]), TensorDataset(images[16:], labels[16:])
    return Transformed(train, tf), Transformed(val, tf)


def _fit(tmp_path, on_model=None, **kw):
    cfg = TrainCfg(
        data="prepared",
        init="none",
        epochs=2,
        batch_size=8,
        lr=0.05,
        optimizer="sgd",
        augment="none",
        image_size_px=SIZE,
        **kw,
    )
    seed_everything(0)
    model = create_model("small_cnn", 2)
    if on_model is not None:
        on_model(model)
    train, val = _sets()
    history, best = fit(model, train, val, cfg, 0, torch.device("cpu"), tmp_path / f"{sorted(kw.items())}.pt")
    return model, history


def test_channels_last_trains_the_same_model_in_the_other_layout(tmp_path):
    ref_model, ref = _fit(tmp_path)
    model, history = _fit(tmp_path, memory_format="channels_last")
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    for a, b in zip(ref.rows, history.rows, strict=True):  # only float summation order differs
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3, abs=1e-4)
    for (name, a), b in zip(ref_model.state_dict().items(), model.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-4), name


def test_bf16_autocast_runs_the_convolutions_in_bf16(tmp_path):
    seen = set()

    def record(model):
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.register_forward_hook(lambda _m, _inputs, out: seen.add(out.dtype))

    _, history = _fit(tmp_path, on_model=record, precision="bf16")
    assert set(seen) == {torch.bfloat16}
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in history.rows)


def test_fp16_without_cuda_fails_in_one_line():
    cfg = TrainCfg(data="prepared", init="none", precision="fp16")
    with pytest.raises(ConfigError, match=r"^train.precision: fp16 needs a CUDA device \(got cpu\); use bf16 or fp32$"):
        Compute.of(cfg, torch.device("cpu"))


def test_unknown_memory_format_is_rejected_by_the_config():
    with pytest.raises(ValueError, match="channels_last"):
        TrainCfg(data="prepared", init="none", memory_format="nhwc")


def test_auto_picks_the_measured_faster_layout_and_fp32_on_cpu(tmp_path, monkeypatch):
    from finegrain.train import compute

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv(numerics.APPLIED_ENV, "native")  # portable numerics fix the layout (tests/test_numerics.py)
    rates = {
        "contiguous fp32": 100.0,
        "contiguous bf16": 300.0,
        "channels_last fp32": 105.0,
        "channels_last bf16": 400.0,
    }
    monkeypatch.setattr(compute, "_measure", lambda probe: dict(rates))
    cfg = TrainCfg(data="prepared", init="none")
    assert (cfg.memory_format, cfg.precision) == ("auto", "auto")
    chosen = Compute.of(cfg, torch.device("cpu"))
    assert chosen.label == "contiguous fp32"  # channels_last within the margin; bf16 changes numbers: never on CPU
    rates["channels_last fp32"] = 150.0
    assert Compute.of(cfg, torch.device("cpu")).label == "contiguous fp32"  # cached: not measured again
    (tmp_path / "finegrain" / "compute.json").unlink()
    assert Compute.of(cfg, torch.device("cpu")).label == "channels_last fp32"
    assert Compute.of(cfg.model_copy(update={"memory_format": "contiguous"}), torch.device("cpu")).label == (
        "contiguous fp32"
    )
    assert "| small_cnn | 64 | 32 | train | cpu |" in compute.probe_table()


def test_the_probe_measures_without_changing_the_random_draws(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv(numerics.APPLIED_ENV, "native")
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    Compute.of(TrainCfg(data="prepared", init="none", image_size_px=16, batch_size=4), torch.device("cpu"))
    assert torch.equal(torch.rand(3), expected)
    assert (tmp_path / "finegrain" / "compute.json").is_file()


def test_predict_in_channels_last_gives_the_logits_and_leaves_the_model_differentiable():
    from finegrain.evaluate.metrics import predict

    seed_everything(0)
    model = create_model("tf_efficientnet_lite0", 3)
    train, _ = _sets()
    plain, labels, _ = predict(model, train, torch.device("cpu"), 8)
    fast, labels_cl, _ = predict(model, train, torch.device("cpu"), 8, Compute(torch.channels_last))
    torch.testing.assert_close(fast, plain, atol=1e-4, rtol=1e-4)
    assert torch.equal(labels, labels_cl)
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous() and not conv.weight.is_inference()
    x = torch.rand(2, 3, SIZE, SIZE, requires_grad=True)
    model(x).sum().backward()  # what the robustness attacks do next
    assert x.grad is not None
