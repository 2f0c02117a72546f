"""Generated shards, the `augmented` data input (never touching val/test), resumable training, params."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ToyGenerator
from pydantic import ValidationError

from finegrain.data.augmented import write_augmented
from finegrain.data.shards import ShardWriter, box_columns, open_split, write_dataset
from finegrain.generate.config import GenerateCfg
from finegrain.generate.loop import fit_generator
from finegrain.generate.output import save_grid, write_generated
from finegrain.generate.run import _subset_per_class

torch.set_num_threads(1)
CLASSES = ["a", "b", "c"]


def _real_dataset(root, size=16, per_class={"train": 4, "val": 2, "test": 3}):  # noqa: B006
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for split, n in per_class.items():
        writer = ShardWriter(root, split, size, 5)  # several shards per split
        for k in range(n * len(CLASSES)):
            label = k % len(CLASSES)
            row = {"id": f"{split}/{k}", "label": label, "class_name": CLASSES[label], "orig_w": size, "orig_h": size}
            writer.add(
                rng.integers(0, 256, (size, size, 3), dtype=np.uint8), {**row, **box_columns(None), "generated": False}
            )
        writer.flush()
        rows += writer.rows
    write_dataset(root, rows, {"class_names": CLASSES, "size_px": size})
    return root


def _generated(root, n_per_class=5, native=8, size=16):
    labels = torch.arange(3).repeat_interleave(n_per_class)
    images = torch.randint(0, 256, (len(labels), 3, native, native), dtype=torch.uint8)
    write_generated(root, "dcgan", images, labels, CLASSES, size)
    return images, labels


def test_generated_shards_are_flagged_train_only_and_upsampled(tmp_path):
    images, labels = _generated(tmp_path / "gen")
    split = open_split(tmp_path / "gen", "train")
    assert len(split) == 15 and split.size_px == 16 and split.index["generated"].all()
    assert split[0][0].shape == (3, 16, 16) and split.labels.tolist() == labels.tolist()
    assert set(pd.read_parquet(tmp_path / "gen" / "index.parquet")["split"]) == {"train"}
    save_grid(tmp_path / "grid.png", images, labels, 3)
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_augmented_adds_generated_images_to_train_only(tmp_path):
    real = _real_dataset(tmp_path / "real")
    _generated(tmp_path / "gen")
    counts = write_augmented(real, tmp_path / "gen", tmp_path / "aug", ratio=0.5)
    assert counts == {"real_train": 12, "generated_train": 6, "per_class_generated": [2, 2, 2]}
    train = open_split(tmp_path / "aug", "train")
    assert len(train) == 18 and train.index["generated"].sum() == 6
    assert np.bincount(train.labels[train.index["generated"].to_numpy()]).tolist() == [2, 2, 2]
    for split in ("val", "test"):
        before, after = open_split(real, split), open_split(tmp_path / "aug", split)
        assert not after.index["generated"].any() and len(after) == len(before)
        assert all(np.array_equal(before.image(i), after.image(i)) for i in range(len(before)))
        assert after.index["id"].tolist() == before.index["id"].tolist()
    real_train = open_split(real, "train")
    assert all(np.array_equal(real_train.image(i), train.image(i)) for i in range(len(real_train)))
    big = write_augmented(real, tmp_path / "gen", tmp_path / "aug2", ratio=10.0)
    assert big["per_class_generated"] == [5, 5, 5]  # capped by what was generated


def test_augmented_refuses_mismatched_generated_images(tmp_path):
    real = _real_dataset(tmp_path / "real")
    _generated(tmp_path / "gen", size=32)
    with pytest.raises(ValueError, match="px"):
        write_augmented(real, tmp_path / "gen", tmp_path / "aug", ratio=0.5)


def test_subset_per_class_is_round_robin():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    picked = _subset_per_class(labels, 5)
    assert sorted(labels[picked].tolist()) == [0, 0, 1, 1, 2]


def test_fit_generator_resumes_exactly(tmp_path):
    images, labels = torch.rand(10, 3, 4, 4), torch.arange(10) % 2
    torch.manual_seed(0)
    full = ToyGenerator(noise=0.1)
    rows_full = fit_generator(full, images, labels, 4, 4, 0, tmp_path / "a.pt", checkpoint_every=2)
    torch.manual_seed(0)
    part = ToyGenerator(noise=0.1)
    fit_generator(part, images, labels, 2, 4, 0, tmp_path / "b.pt", checkpoint_every=2)  # "killed" after epoch 2
    torch.manual_seed(123)  # a restarted process: other RNG state, fresh model
    resumed, replayed = ToyGenerator(noise=0.1), []
    rows = fit_generator(resumed, images, labels, 4, 4, 0, tmp_path / "b.pt", replayed.append, checkpoint_every=2)
    assert [r["loss"] for r in rows] == [r["loss"] for r in rows_full] and len(replayed) == 4
    assert torch.equal(resumed.w.weight, full.w.weight)


def test_generate_params_are_validated():
    assert GenerateCfg().input == "cropped"
    with pytest.raises(ValidationError, match="augment"):
        GenerateCfg(methods=["ddpm"], augment={"method": "dcgan"})
    with pytest.raises(ValidationError, match="augmented"):
        GenerateCfg(input="augmented")
    with pytest.raises(ValidationError, match="divisible"):
        GenerateCfg(ddpm={"size_px": 34, "channels": [8, 16, 32]})


def test_the_judge_compares_at_the_smallest_generator_size_by_default():
    assert GenerateCfg(dcgan={"size_px": 32}, ddpm={"size_px": 16}).judge_size_px == 16
    assert GenerateCfg(methods=["dcgan"], augment={"method": "dcgan"}, dcgan={"size_px": 64}).judge_size_px == 64
    assert GenerateCfg(quality={"size_px": 24}, dcgan={"size_px": 32}, ddpm={"size_px": 32}).judge_size_px == 24
    with pytest.raises(ValidationError, match="quality.size_px"):
        GenerateCfg(quality={"size_px": 32}, ddpm={"size_px": 16})
