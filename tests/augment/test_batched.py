"""The device path (augment.batched): each step mirrors its torchvision v2 transform, its per-image parameters follow
torchvision's distributions (two-sample KS against v2's own make_params), its kernels match v2's functionals, and a
variant trains with it (augment_on: device on the CPU)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.utils.data import TensorDataset
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from finegrain.augment import batch_ops as ops
from finegrain.augment import batched as B
from finegrain.augment.batched import BATCHED, BatchAugment
from finegrain.augment.mix import create_mix
from finegrain.augment.names import BATCHABLE, RECIPE_NAMES
from finegrain.augment.recipes import RECIPES, create_transforms
from finegrain.data import prefetch
from finegrain.data.transformed import Transformed
from finegrain.errors import ConfigError
from finegrain.models.factory import create_model
from finegrain.params import Params
from finegrain.runtime import seed_everything
from finegrain.ssl.config import PretrainCfg
from finegrain.train.config import TrainCfg
from finegrain.train.loop import fit

torch.set_num_threads(1)
DRAWS = 3000
KS_P = 1e-3  # the fixed seeds make each p-value fixed; a wrong distribution gives p < 1e-10 (see the crop test)


def _ks(a, b) -> float:
    return stats.ks_2samp(np.asarray(a, dtype=float), np.asarray(b, dtype=float)).pvalue


def _torchvision_params(transform: v2.Transform, size: int, draws: int = DRAWS) -> list[dict]:
    torch.manual_seed(0)
    image = tv_tensors.Image(torch.zeros(3, size, size, dtype=torch.uint8))
    return [transform.make_params([image]) for _ in range(draws)]


def _batched_params(step: B.Step, size: int, draws: int = DRAWS) -> dict[str, torch.Tensor]:
    return step.params(draws, size, size, torch.Generator().manual_seed(1))


# ---- each batched recipe is its per-sample pipeline, step for step -------------------------------------------


def _nearest_fill_0(t: v2.Transform) -> bool:
    return getattr(t.interpolation, "value", t.interpolation) == "nearest" and t.fill == 0


def _as_step(t: v2.Transform) -> B.Step | None:
    """The batched step a torchvision v2 transform of the recipes corresponds to (None: CenterCrop, a no-op)."""
    if isinstance(t, v2.Resize):
        return B.Resize(t.size[0])
    if isinstance(t, v2.CenterCrop):
        return None
    if isinstance(t, v2.RandomResizedCrop):
        return B.ResizedCrop(t.size[0], tuple(t.scale), tuple(t.ratio))
    if isinstance(t, v2.RandomHorizontalFlip | v2.RandomVerticalFlip):
        return B.Flip(t.p, 3 if isinstance(t, v2.RandomHorizontalFlip) else 2)
    if isinstance(t, v2.RandomRotation):
        assert t.degrees[0] == -t.degrees[1] and _nearest_fill_0(t) and not t.expand and t.center is None
        return B.Rotate(t.degrees[1])
    if isinstance(t, v2.ColorJitter):
        ranges = (t.brightness, t.contrast, t.saturation, t.hue)
        return B.Jitter(*(None if r is None else tuple(r) for r in ranges))
    if isinstance(t, v2.RandomAffine):
        assert tuple(t.degrees) == (0.0, 0.0) and t.shear is None and _nearest_fill_0(t) and t.center is None
        as_tuple = lambda v: None if v is None else tuple(v)  # noqa: E731
        return B.Affine(as_tuple(t.translate), as_tuple(t.scale))
    if isinstance(t, v2.RandomErasing):
        assert t.value == [0.0]
        return B.Erase(t.p, tuple(t.scale), tuple(t.ratio))
    raise AssertionError(f"no batched form of {t}")


@pytest.mark.parametrize("recipe", BATCHABLE)
def test_batched_recipe_has_the_per_sample_steps(recipe):
    expected = [s for s in map(_as_step, RECIPES[recipe](48)) if s is not None]
    assert BATCHED[recipe](48) == expected


def test_the_unbatchable_recipes_are_the_per_sample_policies():
    assert set(RECIPE_NAMES) - set(BATCHABLE) == {"trivialaugment", "randaugment"}


# ---- parameters: the distributions torchvision draws from -----------------------------------------------------


@pytest.mark.parametrize("scale", [(0.08, 1.0), (0.6, 1.0)])
def test_crop_boxes_follow_random_resized_crop(scale):
    size = 64
    ref = _torchvision_params(v2.RandomResizedCrop(32, scale=scale), size)
    ours = _batched_params(B.ResizedCrop(32, scale=scale), size)
    ref_area = [p["height"] * p["width"] / size**2 for p in ref]
    ours_area = (ours["height"] * ours["width"]).double() / size**2
    assert _ks(ref_area, ours_area) > KS_P
    assert _ks([p["width"] / p["height"] for p in ref], ours["width"] / ours["height"]) > KS_P
    assert _ks([p["top"] / (size - p["height"] + 1) for p in ref], ours["top"] / (size - ours["height"] + 1)) > KS_P
    assert _ks([p["left"] for p in ref], ours["left"]) > KS_P
    assert (ours["top"] + ours["height"] <= size).all() and (ours["left"] + ours["width"] <= size).all()
    wrong = _batched_params(B.ResizedCrop(32, scale=(0.6, 1.0) if scale[0] < 0.5 else (0.08, 1.0)), size)
    assert _ks(ref_area, (wrong["height"] * wrong["width"]).double() / size**2) < 1e-10  # the test can fail


def test_crop_falls_back_to_torchvisions_centre_crop():
    # no try fits a 3:1 box of 90-100% of a square image: torchvision's fallback, the centre crop at ratio 3
    ours = B.ResizedCrop(16, scale=(0.9, 1.0), ratio=(3.0, 4.0)).params(50, 30, 30, torch.Generator().manual_seed(0))
    ref = _torchvision_params(v2.RandomResizedCrop(16, scale=(0.9, 1.0), ratio=(3.0, 4.0)), 30, 1)[0]
    for key in ("top", "left", "height", "width"):
        assert (ours[key] == ref[key]).all(), key


def test_flip_rates():
    for p in (0.1, 0.5):
        chosen = _batched_params(B.Flip(p), 8, 20000)["chosen"].double()
        assert abs(chosen.mean().item() - p) < 4 * math.sqrt(p * (1 - p) / 20000)


def test_rotation_angles_and_affine_shifts_and_scales():
    ref = [p["angle"] for p in _torchvision_params(v2.RandomRotation(30), 32)]
    assert _ks(ref, _batched_params(B.Rotate(30), 32)["angle"]) > KS_P
    ref = _torchvision_params(v2.RandomAffine(degrees=0, translate=(0.1, 0.1)), 50)
    ours = _batched_params(B.Affine(translate=(0.1, 0.1)), 50)["translate"]
    for axis in (0, 1):
        counts_ref = np.bincount(np.array([p["translate"][axis] for p in ref]) + 5, minlength=11)
        counts_ours = np.bincount(ours[:, axis].long().numpy() + 5, minlength=11)
        assert len(counts_ref) == len(counts_ours) == 11  # whole pixels in [-5, 5] both
        assert stats.chi2_contingency(np.stack([counts_ref, counts_ours])).pvalue > KS_P
    ref = [p["scale"] for p in _torchvision_params(v2.RandomAffine(degrees=0, scale=(1.0, 1.5)), 32)]
    assert _ks(ref, _batched_params(B.Affine(scale=(1.0, 1.5)), 32)["scale"]) > KS_P


def test_jitter_factors_and_a_random_order_per_image():
    jitter = v2.ColorJitter(brightness=(0.8, 1.2), contrast=(0.8, 1.2), saturation=(0.8, 1.2), hue=0.1)
    ref = _torchvision_params(jitter, 8)
    ours = _batched_params(B.Jitter((0.8, 1.2), (0.8, 1.2), (0.8, 1.2), (-0.1, 0.1)), 8)
    for name in ("brightness", "contrast", "saturation", "hue"):
        assert _ks([p[f"{name}_factor"] for p in ref], ours[name]) > KS_P, name
    assert (ours["order"].sort(1).values == torch.arange(4)).all()  # a permutation per image
    perm_id = lambda order: int("".join(map(str, order)))  # noqa: E731
    counts_ref = np.unique([perm_id(p["fn_idx"].tolist()) for p in ref], return_counts=True)
    counts_ours = np.unique([perm_id(o) for o in ours["order"].tolist()], return_counts=True)
    assert len(counts_ref[0]) == len(counts_ours[0]) == 24 and (counts_ref[0] == counts_ours[0]).all()
    assert stats.chi2_contingency(np.stack([counts_ref[1], counts_ours[1]])).pvalue > KS_P


def test_erase_boxes_follow_random_erasing():
    size = 32
    ref = [p for p in _torchvision_params(v2.RandomErasing(value=0), size) if p["v"] is not None]
    ours = _batched_params(B.Erase(), size)
    assert abs(ours["chosen"].double().mean().item() - 0.5 * len(ref) / DRAWS) < 0.04
    boxes = ours["boxes"][ours["chosen"]]
    assert _ks([p["h"] * p["w"] for p in ref], boxes[:, 2] * boxes[:, 3]) > KS_P
    assert _ks([p["h"] / p["w"] for p in ref], boxes[:, 2] / boxes[:, 3]) > KS_P
    assert _ks([p["i"] for p in ref], boxes[:, 0]) > KS_P


# ---- kernels: torchvision's functionals given the same parameters ---------------------------------------------


def _smooth(n: int = 4, size: int = 48, seed: int = 0) -> torch.Tensor:
    coarse = torch.rand(n, 3, 6, 6, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def test_crop_resize_matches_resized_crop():
    x = _smooth()
    boxes = [(3, 5, 40, 30), (0, 0, 48, 48), (10, 20, 12, 9), (30, 1, 17, 45)]  # top, left, height, width
    ours = ops.crop_resize(x, torch.tensor([[lf, tp, lf + w, tp + h] for tp, lf, h, w in boxes], dtype=torch.float), 24)
    for image, out, (top, left, h, w) in zip(x, ours, boxes, strict=True):
        ref = TF.resized_crop(image, top, left, h, w, [24, 24], antialias=True)
        assert (out - ref).abs().mean() < 0.01 and (out - ref).abs().max() < 0.08


def test_rotation_and_affine_match_torchvision_pixel_for_pixel():
    x = torch.randint(0, 256, (4, 3, 33, 33), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    angles = torch.tensor([17.3, -29.9, 44.0, 0.5])
    shifts = torch.tensor([[3.0, -2.0], [0.0, 4.0], [-5.0, 0.0], [1.0, 1.0]])
    scales = torch.tensor([1.0, 1.2, 1.49, 1.0])
    rotated = B.Rotate(45).apply(x.float() / 255, {"angle": angles})
    moved = B.Affine().apply(x.float() / 255, {"translate": shifts, "scale": scales})
    for i in range(4):
        ref = TF.rotate(x[i], angles[i].item())
        assert ((rotated[i] * 255).round().to(torch.uint8) == ref).float().mean() > 0.995
        ref = TF.affine(x[i], 0.0, shifts[i].tolist(), scales[i].item(), [0.0, 0.0])
        assert ((moved[i] * 255).round().to(torch.uint8) == ref).float().mean() > 0.995


def test_flips_and_erase_match_torchvision_exactly():
    x = _smooth(3)
    flipped = ops.flip(ops.flip(x, torch.tensor([True, False, True]), 3), torch.tensor([False, True, True]), 2)
    assert torch.equal(flipped[0], TF.horizontal_flip(x[0])) and torch.equal(flipped[1], TF.vertical_flip(x[1]))
    assert torch.equal(flipped[2], TF.vertical_flip(TF.horizontal_flip(x[2])))
    boxes = torch.tensor([[2, 3, 10, 20], [0, 0, 5, 5], [40, 40, 8, 8]])
    erased = ops.erase(x, boxes, torch.tensor([True, True, False]))
    for i, (top, left, h, w) in enumerate(boxes.tolist()[:2]):
        assert torch.equal(erased[i], TF.erase(x[i], top, left, h, w, torch.tensor(0.0)))
    assert torch.equal(erased[2], x[2])


def test_jitter_matches_color_jitter_with_each_images_order_and_factors():
    x = _smooth(6)
    step = B.Jitter((0.5, 1.5), (0.5, 1.5), (0.5, 1.5), (-0.2, 0.2))
    p = step.params(6, 48, 48, torch.Generator().manual_seed(3))
    assert len({tuple(o) for o in p["order"].tolist()}) > 1  # the images do not share one order
    ours = step.apply(x, p)
    for i in range(6):
        names = ("brightness", "contrast", "saturation", "hue")
        params = {"fn_idx": p["order"][i], **{f"{n}_factor": p[n][i].item() for n in names}}
        ref = v2.ColorJitter().transform(x[i], params)
        assert (ours[i] - ref).abs().max() < 3e-3, i


# ---- the whole path --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", BATCHABLE)
def test_every_batchable_recipe_gives_float_images_seeded_and_per_image(recipe):
    x = torch.randint(0, 256, (1, 3, 40, 40), dtype=torch.uint8).repeat(6, 1, 1, 1)
    labels = torch.arange(6)
    augment = BatchAugment(recipe, 32)
    augment.start_epoch(32, 7)
    out, targets = augment(x, labels)
    assert out.shape == (6, 3, 32, 32) and out.dtype == torch.float32 and 0 <= out.min() <= out.max() <= 1
    assert targets is labels
    augment.start_epoch(32, 7)
    assert torch.equal(augment(x, labels)[0], out)  # the same seed, the same batch
    per_sample = create_transforms(recipe, 32, train=True)(x[0])
    assert per_sample.shape == out.shape[1:]
    if recipe not in ("none",):  # copies of one image get different draws (cutout and flips: most of them)
        assert len({o.numpy().tobytes() for o in out}) > 1


def test_mix_runs_on_the_device_batch_from_the_paths_generator():
    x = torch.randint(0, 256, (8, 3, 24, 24), dtype=torch.uint8)
    augment = BatchAugment("basic", 16, create_mix(4, 1.0, 1.0, "random"))
    state = torch.get_rng_state()
    augment.start_epoch(16, 1)
    images, targets = augment(x, torch.arange(8) % 4)
    assert torch.equal(torch.get_rng_state(), state)  # nothing drawn from the global generator
    assert images.shape == (8, 3, 16, 16) and targets.shape == (8, 4)
    torch.testing.assert_close(targets.sum(1), torch.ones(8))
    augment.start_epoch(16, 1)
    assert torch.equal(augment(x, torch.arange(8) % 4)[1], targets)


def test_augment_on_device_rejects_a_per_sample_recipe():
    with pytest.raises(ConfigError, match=r"train\.augment_on.*'trivialaugment'"):
        Params(
            variants={"a": {"data": "prepared", "init": "none", "augment": "trivialaugment", "augment_on": "device"}}
        ).variant("a")
    with pytest.raises(ValueError, match=r"pretrain\.augment_on"):
        PretrainCfg(augment_impl="lightly", augment_on="device")
    ok = Params(variants={"a": {"data": "prepared", "init": "none", "augment": "trivialaugment"}})
    assert ok.variant("a").augment_on == "auto"


def _fit(tmp_path, monkeypatch, augment_on: str, **kw):
    calls = []
    go = prefetch.Ahead.go

    def spy(self):
        calls.append(1)
        go(self)

    monkeypatch.setattr(prefetch.Ahead, "go", spy)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 40, 40), dtype=torch.uint8, generator=g)
    labels = torch.arange(64) % 2
    images[labels == 1, 0] //= 3  # a learnable signal: class 1 is less red
    cfg = TrainCfg(
        data="prepared", init="none", epochs=4, batch_size=16, lr=0.01, augment="reportC", image_size_px=32,
        augment_on=augment_on, memory_format="contiguous", precision="fp32", **kw,
    )  # fmt: skip
    train = Transformed(TensorDataset(images[:48], labels[:48]), create_transforms("reportC", 32, train=True))
    val = Transformed(TensorDataset(images[48:], labels[48:]), create_transforms("reportC", 32, train=False))
    seed_everything(0)
    model = create_model("small_cnn", 2, model_args={"width": 8})
    history, _ = fit(model, train, val, cfg, 0, torch.device("cpu"), tmp_path / f"{augment_on}{kw}.pt")
    return [{k: v for k, v in r.items() if "time" not in k} for r in history.rows], len(calls)


def test_a_variant_trains_on_the_device_path_on_cpu(tmp_path, monkeypatch, caplog):
    caplog.set_level("INFO", logger="finegrain.train.augment_path")
    rows, calls = _fit(tmp_path, monkeypatch, "device")
    assert "batched on cpu (train.augment_on: device)" in caplog.text
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert calls == 2 * 4  # training batches still prefetch: the device path draws nothing from the global RNGs
    assert _fit(tmp_path, monkeypatch, "device")[0] == rows  # seeded
    caplog.clear()
    auto, _ = _fit(tmp_path, monkeypatch, "auto")  # auto on the CPU: the per-sample path, today's numbers
    assert "per sample on the CPU (train.augment_on: auto on cpu)" in caplog.text and auto != rows
    assert auto == _fit(tmp_path, monkeypatch, "cpu")[0]
    mixed, _ = _fit(tmp_path, monkeypatch, "device", mix={"mode": "random"})
    assert len(mixed) == 4 and all(math.isfinite(r["train_loss"]) for r in mixed)


def _image_stats(images: torch.Tensor) -> torch.Tensor:
    """Per image: the channel means, red's left minus right half, green's top minus bottom half (crop, flips,
    shifts, colour), to 0.01: the paths' rounding differs (per-sample steps round to uint8 after each one)."""
    half = images.shape[-1] // 2
    lr = images[:, 0, :, :half].mean((1, 2)) - images[:, 0, :, half:].mean((1, 2))
    tb = images[:, 1, :half].mean((1, 2)) - images[:, 1, half:].mean((1, 2))
    return (torch.cat([images.mean((2, 3)), lr[:, None], tb[:, None]], 1) * 100).round() / 100


@pytest.mark.parametrize("recipe", ["basic", "reportC", "zoom", "cutout", "brightness"])
def test_batched_and_per_sample_images_have_the_same_statistics(recipe):
    n, size = 400, 32
    ramp = torch.linspace(0, 1, 40)
    image = torch.stack([ramp.expand(40, 40), ramp.view(-1, 1).expand(40, 40), 1 - ramp.expand(40, 40)])
    image = (image * 200 + 20).round().to(torch.uint8)  # red grows to the right, green downwards
    transform = create_transforms(recipe, size, train=True)
    torch.manual_seed(0)
    per_sample = _image_stats(torch.stack([transform(image) for _ in range(n)]))
    augment = BatchAugment(recipe, size)
    augment.start_epoch(size, 0)
    batched = _image_stats(augment.images(image.expand(n, -1, -1, -1)))
    for k in range(per_sample.shape[1]):
        assert _ks(per_sample[:, k], batched[:, k]) > KS_P, k
    if recipe == "basic":  # the test can fail: a flip probability of 0.3 instead of 0.5 is seen
        augment.start_epoch(size, 0)
        augment.steps = [B.ResizedCrop(size, scale=(0.6, 1.0)), B.Flip(0.3)]
        wrong = _image_stats(augment.images(image.expand(n, -1, -1, -1)))
        assert _ks(per_sample[:, 3], wrong[:, 3]) < 1e-6


def test_the_device_path_keeps_every_tensor_on_the_batchs_device():
    """On the meta device (no CUDA here) an op mixing a CPU parameter into the batch's device raises; none does."""
    from finegrain.ssl.views import BatchSimCLRAugment

    x = torch.empty(4, 3, 40, 40, dtype=torch.uint8, device="meta")
    with pytest.raises(RuntimeError, match="device"):  # the check works: a CPU mask on a meta batch
        torch.where(torch.ones(4, 1, 1, 1, dtype=torch.bool), x.flip(3), x)
    for recipe in BATCHABLE:
        augment = BatchAugment(recipe, 32)
        out = augment.images(x)
        assert out.device.type == "meta" and out.shape == (4, 3, 32, 32) and out.dtype == torch.float32
    view = BatchSimCLRAugment(24, sigmas=(0.05, 0.3))(x, torch.Generator().manual_seed(0))
    assert view.device.type == "meta" and view.shape == (4, 3, 24, 24)
