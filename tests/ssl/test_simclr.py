"""SimCLR pieces: lightly's NT-Xent against a hand computation, the batched views, the backbone and init: simclr."""

from __future__ import annotations

import math

import pytest
import torch

from finegrain.augment.batch_ops import hsv_to_rgb, rgb_to_hsv
from finegrain.errors import ConfigError, FinegrainError
from finegrain.models.factory import create_model, seed_weights_dir
from finegrain.params import Params
from finegrain.ssl.config import PretrainCfg
from finegrain.ssl.run import _save_backbones
from finegrain.ssl.simclr import SimCLR, backbone_of, backbone_state, nt_xent, simclr_transform
from finegrain.ssl.views import BatchSimCLRAugment
from finegrain.stage_metrics import split_timings

torch.set_num_threads(1)


def test_nt_xent_equals_hand_computed_2x2():
    # views of 2 images in 2-d: a1 = b1 = (1, 0); a2 = (0, 1), b2 = (0.6, 0.8). Cosines: a1.b1 = 1, a2.b2 = 0.8,
    # a1.a2 = b1.a2 = 0, a1.b2 = b1.b2 = 0.6. With t = 0.5 each anchor's loss is -log(e^(pos/t) / sum over the
    # other three views of e^(cos/t)), averaged over the 4 anchors.
    out0 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    out1 = torch.tensor([[2.0, 0.0], [0.6, 0.8]])  # scale does not matter: the loss normalises
    e = math.exp
    a1 = b1 = -math.log(e(2.0) / (e(2.0) + e(0.0) + e(1.2)))
    a2 = -math.log(e(1.6) / (e(1.6) + e(0.0) + e(0.0)))
    b2 = -math.log(e(1.6) / (e(1.6) + e(1.2) + e(1.2)))
    expected = (a1 + a2 + b1 + b2) / 4
    assert nt_xent(0.5)(out0, out1).item() == pytest.approx(expected, abs=1e-5)


def test_backbone_and_projection_shapes():
    backbone, dim = backbone_of("small_cnn", {"width": 8})
    assert dim == 64 and backbone(torch.rand(3, 3, 32, 32)).shape == (3, 64)
    model = SimCLR(backbone, dim, hidden_dim=32, out_dim=16)
    assert model(torch.rand(4, 3, 32, 32)).shape == (4, 16)


def test_batched_views_are_independent_per_image_and_seeded():
    aug = BatchSimCLRAugment(24, sigmas=(0.05, 0.3))
    x = torch.randint(0, 256, (1, 3, 40, 40), dtype=torch.uint8).repeat(8, 1, 1, 1)  # 8 copies of one image
    v = aug(x, torch.Generator().manual_seed(0))
    assert v.shape == (8, 3, 24, 24) and v.dtype == torch.float32 and v.min() >= 0 and v.max() <= 1
    assert len({round(float(t.sum()), 3) for t in v}) == 8  # each copy got its own crop/jitter
    assert torch.equal(v, aug(x, torch.Generator().manual_seed(0)))


def test_hsv_round_trip_and_lightly_reference_transform():
    x = torch.rand(2, 3, 8, 8)
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-5)
    v0, v1 = simclr_transform(16)(torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8))
    assert v0.shape == v1.shape == (3, 16, 16) and v0.dtype == torch.float32


def test_init_simclr_loads_the_pretrained_backbone(tmp_path):
    cfg = PretrainCfg(model="small_cnn", model_args={"width": 8})
    backbone, _ = backbone_of("small_cnn", {"width": 8})
    with torch.no_grad():
        for p in backbone.parameters():
            p.add_(1.0)
    other, _ = backbone_of("small_cnn", {"width": 8})
    _save_backbones(tmp_path / "simclr", cfg, {0: backbone_state(backbone), 3: backbone_state(other)}, {})
    seed0 = seed_weights_dir("simclr", tmp_path / "simclr", 0)
    assert seed0 == tmp_path / "simclr" / "seed0" and seed_weights_dir("lite0", tmp_path, 3) == tmp_path
    model = create_model("small_cnn", 5, "simclr", weights_dir=seed0, model_args={"width": 8})
    for key, value in backbone.net.state_dict().items():
        assert torch.equal(model.net.state_dict()[key], value), key
    seed3 = create_model("small_cnn", 5, "simclr", weights_dir=tmp_path / "simclr" / "seed3", model_args={"width": 8})
    for key, value in other.net.state_dict().items():  # variant seed 3 loads the backbone of pretrain seed 3
        assert torch.equal(seed3.net.state_dict()[key], value), key
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 5)  # fresh 5-class head
    with pytest.raises(FinegrainError, match="do not fit"):
        create_model("small_cnn", 5, "simclr", weights_dir=seed0, model_args={"width": 16})
    with pytest.raises(FinegrainError, match="not small_resnet"):
        create_model("small_resnet", 5, "simclr", weights_dir=seed0)
    with pytest.raises(FinegrainError, match="dvc repro pretrain"):
        create_model("small_cnn", 5, "simclr", weights_dir=tmp_path / "missing")


def test_config_rejects_a_simclr_variant_of_another_model():
    params = Params(variants={"a": {"data": "cropped", "init": "simclr", "model": "small_resnet"}})
    with pytest.raises(ConfigError, match=r"variants\.a\.init: 'simclr'"):
        params.variant("a")
    ok = Params(variants={"b": {"data": "augmented", "init": "simclr"}})
    assert ok.variant("b").init == "simclr"


def test_config_rejects_a_simclr_variant_seed_without_its_backbone():
    with pytest.raises(ValueError, match=r"variants\.b\.seeds: seed\(s\) \[3\] have no SimCLR backbone"):
        Params(variants={"b": {"data": "cropped", "init": "simclr", "seeds": [0, 3]}}, pretrain={"seeds": [0, 1, 2]})
    Params(variants={"b": {"data": "cropped", "init": "simclr", "seeds": [2]}})


@pytest.mark.parametrize("impl", ["batched", "lightly"])
def test_pretrain_grayscale_reaches_both_view_implementations(impl):
    from finegrain.ssl.run import _ViewPairs

    images = torch.randint(0, 256, (4, 3, 24, 24), dtype=torch.uint8)
    for grayscale, colour_free in ((1.0, True), (0.0, False)):
        cfg = PretrainCfg(image_size_px=16, grayscale=grayscale, augment_impl=impl, cj_strength=0.0)
        for view in _ViewPairs(cfg)(images, torch.Generator().manual_seed(0)):
            assert view.shape == (4, 3, 16, 16)
            same = all(torch.allclose(view[:, c], view[:, 0], atol=1e-6) for c in (1, 2))
            assert same == colour_free, (grayscale, impl)
    with pytest.raises(ValueError, match="grayscale"):
        PretrainCfg(grayscale=1.5)


def _tiny_prepared(root, size=16, classes=("a", "b")):
    import numpy as np

    from finegrain.data.shards import ShardWriter, box_columns, write_dataset

    root.mkdir(parents=True)
    rng, rows = np.random.default_rng(0), []
    for split, n in (("train", 12), ("val", 4)):
        writer = ShardWriter(root, split, size, 8)
        for k in range(n * len(classes)):
            row = {"id": f"{split}/{k}", "label": k % 2, "class_name": classes[k % 2], "orig_w": size, "orig_h": size}
            image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            writer.add(image, {**row, **box_columns(None), "generated": False})
        writer.flush()
        rows += writer.rows
    write_dataset(root, rows, {"class_names": list(classes), "size_px": size})
    return root


def test_pretrain_makes_the_batched_views_on_the_training_device(tmp_path, monkeypatch, caplog):
    """augment_on auto/device: each uint8 batch goes to the device (data.tensors.to_device) and the views are made
    there; on the CPU the numbers equal the views made before the move (augment_on: cpu)."""
    from finegrain.ssl import run

    data = _tiny_prepared(tmp_path / "data")
    moved = []
    to_device = run.to_device
    monkeypatch.setattr(run, "to_device", lambda batch, device: moved.append(batch.dtype) or to_device(batch, device))
    caplog.set_level("INFO", logger="finegrain.ssl.run")
    metrics = {}
    for where in ("device", "cpu"):
        pretrain = {"epochs": 2, "batch_size": 8, "image_size_px": 16, "model_args": {"width": 8}, "seeds": [0]}
        pretrain["augment_on"] = where
        params = Params(base={"device": "cpu", "threads": 1}, pretrain=pretrain)
        out = tmp_path / where
        metrics[where] = run.pretrain(params, data, out / "weights", out / "live", out / "ckpt")
    assert moved == [torch.uint8] * 6  # 2 epochs x 3 batches, all on the device path
    assert "SimCLR seed 0 views: batched, made on cpu" in caplog.text
    assert split_timings(metrics["device"])[0] == split_timings(metrics["cpu"])[0]


def test_pretrain_trains_one_backbone_per_seed_and_pools_their_knn(tmp_path):
    from finegrain.ssl import run

    data = _tiny_prepared(tmp_path / "data")
    pretrain = {"epochs": 1, "batch_size": 8, "image_size_px": 16, "model_args": {"width": 8}, "seeds": [0, 1]}
    params = Params(base={"device": "cpu", "threads": 1}, pretrain=pretrain)
    out = tmp_path / "out"
    metrics = run.pretrain(params, data, out / "weights", out / "live", out / "ckpt")
    per_seed = metrics["seeds"]
    assert sorted(per_seed) == ["0", "1"] and metrics["knn_val_images"] == 2 * 8  # 8 val images, each seed's
    assert metrics["knn_val_acc"] == pytest.approx((per_seed["0"]["knn_val_acc"] + per_seed["1"]["knn_val_acc"]) / 2)
    states = [torch.load(out / "weights" / f"seed{s}" / "weights.pt", weights_only=True) for s in (0, 1)]
    assert any(not torch.equal(states[0]["state_dict"][k], v) for k, v in states[1]["state_dict"].items())
    assert (out / "weights" / "checks.json").is_file() and metrics["check"]["technique"] == "simclr"
