"""Report E's ablation recipes: a square resize plus one augmentation, which changes only what it should."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import v2

from finegrain.augment.recipes import RECIPES, create_transforms

ABLATIONS = ["brightness", "hflip", "vflip", "rotation", "zoom", "cutout", "randaugment"]
SIZE = 24


def _outputs(recipe: str, x: torch.Tensor, draws: int = 12) -> list[torch.Tensor]:
    transform = v2.Compose(RECIPES[recipe](SIZE))
    outs = []
    for seed in range(draws):
        torch.manual_seed(seed)
        outs.append(transform(x))
    return outs


def _image(low: int = 1, high: int = 256) -> torch.Tensor:
    torch.manual_seed(123)
    return torch.randint(low, high, (3, SIZE, SIZE), dtype=torch.uint8)  # already square: the resize is a no-op


@pytest.mark.parametrize("recipe", ABLATIONS)
def test_square_float_output_and_one_augmentation(recipe):
    steps = RECIPES[recipe](SIZE)
    assert len(steps) == 3 and isinstance(steps[0], v2.Resize) and isinstance(steps[1], v2.CenterCrop)
    out = create_transforms(recipe, SIZE, train=True)(torch.randint(0, 256, (3, 30, 41), dtype=torch.uint8))
    assert out.shape == (3, SIZE, SIZE) and out.dtype == torch.float32 and 0 <= out.min() <= out.max() <= 1


@pytest.mark.parametrize(("recipe", "dim"), [("hflip", -1), ("vflip", -2)])
def test_flip_returns_the_input_or_its_mirror(recipe, dim):
    x = _image()
    outs = _outputs(recipe, x)
    assert all(torch.equal(o, x) or torch.equal(o, x.flip(dim)) for o in outs)
    assert {torch.equal(o, x) for o in outs} == {True, False}


def test_brightness_scales_every_pixel_by_one_factor():
    x = _image(50, 150)  # no clipping at factor 1.3
    for out in _outputs("brightness", x):
        factor = out.double().sum() / x.double().sum()
        assert 0.69 <= factor <= 1.31
        assert (out.double() - x.double() * factor).abs().max() <= 2


def test_rotation_moves_pixels_without_changing_them():
    yy, xx = torch.meshgrid(torch.arange(SIZE) - 11.5, torch.arange(SIZE) - 11.5, indexing="ij")
    disk = ((yy**2 + xx**2) < 8**2).to(torch.uint8).mul(255).expand(3, -1, -1)
    for out in _outputs("rotation", disk):  # a centred disk is unchanged by any rotation
        assert (out != disk).float().mean() < 0.03
    x = _image()
    outs = _outputs("rotation", x)
    assert all(set(o.unique().tolist()) <= set(x.unique().tolist()) | {0} for o in outs)  # nearest, zero fill
    assert sum(not torch.equal(o, x) for o in outs) > len(outs) // 2


def test_zoom_enlarges_a_centred_square_by_at_most_half():
    x = torch.zeros(3, SIZE, SIZE, dtype=torch.uint8)
    x[:, 8:16, 8:16] = 255
    sides = []
    for out in _outputs("zoom", x):
        rows = out[0].amax(1).nonzero().flatten()
        side = len(rows)
        assert 8 <= side <= 13 and abs(rows[0].item() + rows[-1].item() - 23) <= 1  # scale 1-1.5, centred
        assert (out[0] > 0).sum() == side * len(out[0].amax(0).nonzero())  # still a filled square
        sides.append(side)
    assert max(sides) > 8


def test_cutout_zeroes_one_rectangle_and_nothing_else():
    x = _image()
    erased = 0
    for out in _outputs("cutout", x):
        changed = (out != x).any(0)
        if changed.any():
            erased += 1
            rows, cols = changed.any(1).nonzero().flatten(), changed.any(0).nonzero().flatten()
            box = out[:, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
            assert (box == 0).all() and changed.sum() == box[0].numel()
    assert 0 < erased < 12


def test_randaugment_keeps_shape_and_dtype():
    for out in _outputs("randaugment", _image(), draws=4):
        assert out.shape == (3, SIZE, SIZE) and out.dtype == torch.uint8
