"""`evaluate.batch_size: auto`: the doubling probe, its stopping rules, its cache, and that it changes no result."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from finegrain.evaluate import batch as eval_batch
from finegrain.evaluate.config import EvaluateCfg
from finegrain.evaluate.metrics import predict
from finegrain.models.factory import create_model
from finegrain.train.compute import FP32
from finegrain.train.config import TrainCfg

CPU = torch.device("cpu")
CFG = TrainCfg(data="prepared", model="small_cnn", image_size_px=32, init="none")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))


def _model():
    torch.manual_seed(0)
    return create_model("small_cnn", 3).eval()


def _fake_time(seconds_of, calls):
    def fake(net, x, device, steps=2):
        calls.append(len(x))
        return seconds_of(len(x))

    return fake


def test_choose_the_fastest_and_the_smaller_of_a_tie():
    assert eval_batch.choose({16: 100.0, 32: 150.0, 64: 140.0}) == 32
    assert eval_batch.choose({16: 100.0, 32: 90.0}) == 16
    assert eval_batch.choose({16: 100.0, 32: 130.0, 64: 130.0}) == 32


def test_probe_doubles_until_no_gain(monkeypatch):
    calls = []  # per-image cost falls until 64, then flat: an overhead per batch, then a saturated device
    monkeypatch.setattr(eval_batch, "_time", _fake_time(lambda b: 0.64 + b * 0.01 if b <= 64 else b * 0.021, calls))
    assert eval_batch.fastest_batch(_model(), CFG, CPU, FP32, items=10_000) == 64
    assert calls == [8, 16, 32, 64, 128]  # measured one past the best, no further
    calls.clear()  # noise: a batch slower than the best so far ends the doubling, the fastest one measured wins
    rates = {8: 80.0, 16: 100.0, 32: 120.0, 64: 118.0, 128: 200.0}
    monkeypatch.setattr(eval_batch, "_time", _fake_time(lambda b: b / rates[b], calls))
    assert eval_batch.fastest_batch(_model(), CFG, CPU, FP32, items=200) == 32  # another cap: not cached
    assert calls == [8, 16, 32, 64]


def test_probe_caps_at_the_split_and_the_step_budget(monkeypatch):
    calls = []
    monkeypatch.setattr(eval_batch, "_time", _fake_time(lambda b: 1.0, calls))  # bigger is always faster
    assert eval_batch.fastest_batch(_model(), CFG, CPU, FP32, items=100) == 128  # the first batch covering 100
    assert calls == [8, 16, 32, 64, 128]
    calls.clear()
    monkeypatch.setattr(eval_batch, "_time", _fake_time(lambda b: 0.5 + b * 0.04, calls))  # slow, still gaining
    assert eval_batch.fastest_batch(_model(), CFG, CPU, FP32, items=5_000) == 64  # 64 took 3.06 s > 3 s: no 128
    assert calls == [8, 16, 32, 64]


def test_out_of_memory_keeps_the_largest_batch_that_fits(monkeypatch):
    def fake(net, x, device, steps=2):
        if len(x) > 64:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return 0.1

    monkeypatch.setattr(eval_batch, "_time", fake)
    assert eval_batch.fastest_batch(_model(), CFG, CPU, FP32, items=10_000) == 64


def test_measured_once_then_cached(monkeypatch):
    model = _model()
    first = eval_batch.fastest_batch(model, CFG, CPU, FP32, items=40)  # real timings of a real model
    assert first in eval_batch.CANDIDATES and first <= 64
    monkeypatch.setattr(eval_batch, "_measure", lambda *a: pytest.fail("measured again"))
    assert eval_batch.fastest_batch(model, CFG, CPU, FP32, items=40) == first
    with pytest.raises(pytest.fail.Exception):  # another image size is another probe
        eval_batch.fastest_batch(model, CFG.model_copy(update={"image_size_px": 48}), CPU, FP32, items=40)


def test_probe_draws_nothing_from_the_run_and_changes_no_prediction():
    model = _model()
    g = torch.Generator().manual_seed(1)
    data = TensorDataset(torch.rand(70, 3, 32, 32, generator=g), torch.arange(70) % 3)
    state = torch.get_rng_state()
    chosen, attack = eval_batch.eval_batches("auto", model, CFG, CPU, FP32, len(data))
    assert torch.equal(torch.get_rng_state(), state)
    assert attack == eval_batch.ATTACK_BATCH  # attacks draw per batch: never a timed choice
    auto, labels, _ = predict(model, data, CPU, chosen, FP32)
    fixed, labels_fixed, _ = predict(model, data, CPU, 128, FP32)
    torch.testing.assert_close(auto, fixed, rtol=1e-5, atol=1e-6)
    assert torch.equal(labels, labels_fixed)


def test_a_number_is_used_as_given_and_bad_values_are_refused():
    assert eval_batch.eval_batches(48, None, CFG, CPU, FP32, 10) == (48, 48)
    assert EvaluateCfg().batch_size == "auto"
    for bad in (0, -1, True, "fast", "64"):
        with pytest.raises(ValueError, match="batch_size"):
            EvaluateCfg(batch_size=bad)
