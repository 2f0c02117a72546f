"""The fine-tuning recipe's options: per-step warm-up + cosine, EMA, no decay on norm/bias, progressive resizing,
LP-FT (two_phase), flip test-time augmentation; each off by default."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import TensorDataset

from finegrain.augment.recipes import create_transforms
from finegrain.data.transformed import Transformed
from finegrain.evaluate.metrics import predict
from finegrain.models.factory import create_model
from finegrain.runtime import seed_everything
from finegrain.train.config import TrainCfg
from finegrain.train.loop import fit, train_px
from finegrain.train.optim import create_optimizer, create_scheduler

SIZE = 24


def _cfg(**kw) -> TrainCfg:
    base = dict(data="prepared", init="none", epochs=2, batch_size=8, lr=0.05, optimizer="sgd", augment="none")
    return TrainCfg(**{**base, "image_size_px": SIZE, **kw})


def _sets(augment: str = "none"):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (24, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.arange(24) % 2
    images[labels == 1, 1] //= 3  # learnable: class 1 is less green
    train, val = TensorDataset(images[:16], labels[:16]), TensorDataset(images[16:], labels[16:])
    return (
        Transformed(train, create_transforms(augment, SIZE, train=True)),
        Transformed(val, create_transforms("none", SIZE, train=False)),
    )


def _fit(tmp_path, cfg: TrainCfg, augment: str = "none", name: str = "s.pt"):
    seed_everything(0)
    model = create_model("small_cnn", 2)
    train, val = _sets(augment)
    history, best = fit(model, train, val, cfg, 0, torch.device("cpu"), tmp_path / name)
    return model, history, best, train


def test_decay_norm_bias_false_puts_norm_and_bias_in_a_group_without_decay():
    model = create_model("small_cnn", 2)
    default = create_optimizer(model, _cfg())
    assert len(default.param_groups) == 1 and default.param_groups[0]["weight_decay"] == 1e-4
    groups = create_optimizer(model, _cfg(decay_norm_bias=False)).param_groups
    no_decay, decay = groups
    assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] == 1e-4
    assert all(p.ndim <= 1 for p in no_decay["params"]) and all(p.ndim > 1 for p in decay["params"])
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_step_interval_warms_up_then_decays_every_step():
    cfg = _cfg(lr=1.0, lr_interval="step", warmup_epochs=1, epochs=3)
    opt = create_optimizer(torch.nn.Linear(2, 2), cfg)
    sched = create_scheduler(opt, cfg, cfg.epochs, steps_per_epoch=4)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4:] == pytest.approx([0.5 * (1 + math.cos(math.pi * s / 8)) for s in range(8)])


def test_step_interval_needs_cosine_or_none():
    with pytest.raises(ValueError, match="lr_interval"):
        _cfg(lr_interval="step", scheduler="step")


def test_progressive_resizing_ramps_to_image_size():
    cfg = _cfg(epochs=5, image_size_px=224, resize={"from_px": 160, "until": 0.75})
    assert [train_px(cfg, e) for e in range(5)] == [160, 184, 200, 224, 224]
    assert train_px(_cfg(epochs=5), 0) == SIZE
    assert train_px(_cfg(epochs=5, resize={"from_px": 160}), 0) == SIZE  # from_px >= image_size_px: off


def test_recipe_trains_with_ema_step_schedule_and_resizing(tmp_path):
    cfg = _cfg(
        epochs=3,
        lr_interval="step",
        warmup_epochs=1,
        decay_norm_bias=False,
        ema={"decay": 0.9},
        resize={"from_px": 16},
        augment="basic",
    )
    model, history, best, train = _fit(tmp_path, cfg, augment="basic")
    assert len(history.rows) == 3 and all(math.isfinite(r["train_loss"]) for r in history.rows)
    assert train[0][0].shape[-1] == SIZE  # the last epoch trains at image_size_px
    changed = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, best[k])]
    assert changed, "the best weights are the EMA's, not the model's"


def test_ema_resumes_to_the_same_result(tmp_path, monkeypatch):
    cfg = _cfg(epochs=3, lr_interval="step", ema={"decay": 0.9})
    _, ref, ref_best, _ = _fit(tmp_path, cfg, name="ref.pt")

    from finegrain.engine import loop as engine

    calls = {"n": 0}
    real = engine.run_epochs

    def stop_after_two(step, epochs, *args, **kw):  # the first call trains 2 epochs, as if killed after them
        calls["n"] += 1
        return real(step, 2 if calls["n"] == 1 else epochs, *args, **kw)

    monkeypatch.setattr("finegrain.train.loop.run_epochs", stop_after_two)
    _fit(tmp_path, cfg, name="resume.pt")
    _, resumed, best, _ = _fit(tmp_path, cfg, name="resume.pt")
    assert [r["val_loss"] for r in resumed.rows] == pytest.approx([r["val_loss"] for r in ref.rows])
    for key, value in ref_best.items():
        assert torch.allclose(value.float(), best[key].float(), atol=1e-6), key


def test_two_phase_is_lp_then_ft_with_the_recipe(tmp_path):
    cfg = _cfg(mode="two_phase", epochs=3, phase1_epochs=1, phase2_lr=0.01, lr_interval="step", ema={"decay": 0.9})
    model, history, _, _ = _fit(tmp_path, cfg)
    assert [r["lr"] for r in history.rows][1] == pytest.approx(0.01)  # phase 2 restarts the schedule at phase2_lr
    assert all(p.requires_grad for p in model.parameters())


def test_flip_tta_averages_the_mirrored_logits():
    seed_everything(0)
    model = create_model("small_cnn", 2)
    _, val = _sets()
    plain, labels, _ = predict(model, val, torch.device("cpu"), 4)
    tta, tta_labels, _ = predict(model, val, torch.device("cpu"), 4, tta="flip")
    images = torch.stack([val[i][0] for i in range(len(val))])
    with torch.inference_mode():
        mirrored = model.eval()(images.flip(-1))
    assert torch.equal(labels, tta_labels)
    torch.testing.assert_close(tta, (plain + mirrored) / 2, rtol=1e-5, atol=1e-5)
