"""Evaluation, robustness and Grad-CAM in the device's Compute (autocast + layout), exercised on the CPU with bf16.

On CUDA `precision: auto` resolves to bf16 or fp16 autocast; on the CPU it is fp32, so these tests pass an explicit
bf16 Compute to run the same code paths (autocast, the float32 outputs, Grad-CAM's float32 activations).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from finegrain.evaluate.metrics import ForwardTimer, loader_options, predict
from finegrain.evaluate.robustness import robustness_curve
from finegrain.explain.cam import compute_cams
from finegrain.explain.config import ExplainCfg
from finegrain.explain.run import explain_model
from finegrain.models.factory import create_model
from finegrain.train.compute import Compute

CPU = torch.device("cpu")
BF16 = Compute(torch.channels_last, torch.bfloat16)


def _model():
    torch.manual_seed(0)
    return create_model("small_cnn", 3).eval()


def _images(n=6, size=32):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, size, size, generator=g), torch.arange(n) % 3


def _conv_dtypes(model):
    seen = set()
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(lambda _m, _i, out: seen.add((out.dtype, out.is_contiguous())))
    return seen


def test_predict_runs_in_the_computes_autocast_and_layout_and_returns_float_logits():
    model = _model()
    images, labels = _images()
    ref, _, _ = predict(model, TensorDataset(images, labels), CPU, 4)
    seen = _conv_dtypes(model)
    out, got_labels, rate = predict(model, TensorDataset(images, labels), CPU, 4, BF16)
    assert seen == {(torch.bfloat16, False)}  # bf16 convolutions on channels_last tensors
    assert out.dtype == torch.float32 and torch.equal(got_labels, labels) and rate > 0
    assert torch.allclose(out, ref, atol=0.05)  # bf16: 8-bit mantissa
    assert next(model.parameters()).is_contiguous()  # the model is back in its own layout


def test_robustness_curve_attacks_under_autocast():
    model = _model()
    images, labels = _images()
    labels = model(images).argmax(1)  # every image clean
    seen = _conv_dtypes(model)
    curves = robustness_curve(model, images, labels, [0.0, 8 / 255], ["fgsm", "pgd"], pgd_steps=2, compute=BF16)
    assert torch.bfloat16 in {dtype for dtype, _ in seen}
    assert curves["fgsm"][0.0] == curves["pgd"][0.0] == 1.0 and curves["pgd"][8 / 255] <= 1.0
    assert all(p.is_contiguous() for p in model.parameters())


@pytest.mark.parametrize("method", ["gradcam", "scorecam"])
def test_grad_cam_works_under_bf16_autocast(method):
    """pytorch-grad-cam reads activations as NumPy arrays (no bf16 there): the target layer's output is cast."""
    model = _model()
    images, _ = _images(3)
    ref = compute_cams(model, images, [0, 1, 2], method)
    cams = compute_cams(model, images, [0, 1, 2], method, compute=BF16)
    assert cams.shape == ref.shape and np.isfinite(cams).all()
    assert np.corrcoef(cams.ravel(), ref.ravel())[0, 1] > 0.9  # the same heatmaps, to bf16 precision
    assert all(p.grad is None and p.is_contiguous() for p in model.parameters())


def test_explain_model_under_autocast(tmp_path):
    model = _model()
    images, labels = _images(4)
    cfg = ExplainCfg(methods=["gradcam"], images=2, faithfulness_images=4)
    metrics = explain_model(model, (images[:2], labels[:2]), (images, labels), ["a", "b", "c"], cfg, tmp_path, 4, BF16)
    assert (tmp_path / "cam.png").is_file() and metrics["images"] == 4
    assert all(np.isfinite(v) for v in metrics.values() if isinstance(v, float))


def test_the_evaluation_loader_pins_memory_and_uses_workers_on_cuda_only():
    assert loader_options(CPU, 4) == {}
    assert loader_options(torch.device("cuda"), 4) == {
        "num_workers": 4,
        "pin_memory": True,
        "persistent_workers": False,
    }


def test_the_forward_timer_adds_the_blocks_on_the_cpu():
    timer = ForwardTimer(CPU)
    for _ in range(3):
        with timer:
            torch.ones(100).sum()
    assert 0 < timer.seconds() < 1 and not timer.cuda
