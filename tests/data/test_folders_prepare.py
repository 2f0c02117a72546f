"""Class-folder reading, stratified splits, and the prepare stage's decoding of awkward images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from finegrain.data.folders import read_class_folders, stratified_split
from finegrain.data.prepare import prepare_dataset
from finegrain.data.shards import open_split, read_meta, stratified_subset
from finegrain.errors import DataError


def save(path, img: Image.Image, fmt: str | None = None, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt, **kw)


def make_tree(root, per_class=10, classes=("a", "b", "c"), size=(40, 30)):
    rng = np.random.default_rng(0)
    for c in classes:
        for i in range(per_class):
            arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            save(root / c / f"{i}.jpg", Image.fromarray(arr))
    return root


def test_stratified_split_fractions():
    names = stratified_split(100, np.random.default_rng(0), 0.15, 0.15)
    assert names.count("test") == 15 and names.count("val") == 15 and names.count("train") == 70
    assert stratified_split(1, np.random.default_rng(0), 0.5, 0.4) == ["train"]


def test_read_class_folders_is_seeded_and_ignores_non_images(tmp_path):
    root = make_tree(tmp_path / "tree")
    (root / "a" / "notes.txt").write_text("not an image")
    (root / "empty").mkdir()
    ds1 = read_class_folders(root, "imagefolder", 3, 0.2, 0.2)
    ds2 = read_class_folders(root, "imagefolder", 3, 0.2, 0.2)
    assert ds1.class_names == ["a", "b", "c"]  # the empty folder is not a class
    assert len(ds1.records) == 30
    assert [r.split for r in ds1.records] == [r.split for r in ds2.records]
    assert ds1.split_counts() == {"train": 18, "val": 6, "test": 6}


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="is not a directory"):
        read_class_folders(tmp_path / "nope", "imagefolder", 0, 0.1, 0.1)


def test_prepare_decodes_awkward_images_and_skips_bad_ones(tmp_path):
    root = make_tree(tmp_path / "tree", per_class=12)
    a = root / "a"
    save(a / "cmyk.jpg", Image.new("CMYK", (50, 40), (0, 255, 0, 0)))
    save(a / "gray16.png", Image.fromarray(np.full((30, 40), 40000, dtype=np.uint16)))
    save(a / "rgba.png", Image.new("RGBA", (40, 30), (255, 0, 0, 0)))  # fully transparent -> white
    save(a / "palette.png", Image.new("P", (40, 30), 3))
    save(a / "gray.jpg", Image.new("L", (40, 30), 128))
    save(a / "tiny.png", Image.new("RGB", (1, 1), (1, 2, 3)))
    rotated = Image.new("RGB", (60, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display: stored 60x20 shows as 20x60
    save(a / "rotated.jpg", rotated, exif=exif)
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (9, 9, 9)).save(buf, format="JPEG")
    (a / "truncated.jpg").write_bytes(buf.getvalue()[:200])
    (a / "empty.jpg").write_bytes(b"")
    save(a / "png_named.jpg", Image.new("RGB", (30, 30), (0, 255, 0)), fmt="PNG")
    raw = read_class_folders(root, "imagefolder", 0, 0.0, 0.2)
    out = tmp_path / "prepared"
    report = prepare_dataset(raw, out, size_px=16, max_bad_fraction=0.1, workers=1)
    assert report["skipped"] == 2 and report["images"] == len(raw.records) - 2
    meta = read_meta(out)
    assert meta["size_px"] == 16 and meta["class_names"] == ["a", "b", "c"]
    index = __import__("pandas").read_parquet(out / "index.parquet")
    by_id = {row.id: row for row in index.itertuples()}
    assert (by_id["a/rotated.jpg"].orig_w, by_id["a/rotated.jpg"].orig_h) == (20, 60)
    split = {"train": open_split(out, "train"), "test": open_split(out, "test")}
    images = {}
    for s in split.values():
        for i in range(len(s)):
            images[s.index.iloc[i]["id"]] = s.image(i)
    assert images["a/rgba.png"].min() == 255
    assert images["a/gray16.png"].mean() == pytest.approx(40000 / 65535 * 255, abs=1)
    assert images["a/cmyk.jpg"].shape == (16, 16, 3)
    assert all(img.dtype == np.uint8 and img.shape == (16, 16, 3) for img in images.values())
    assert not list(tmp_path.glob(".prepared.tmp-*"))


def test_prepare_fails_above_bad_fraction_and_leaves_no_output(tmp_path):
    root = make_tree(tmp_path / "tree", per_class=5)
    for i in range(3):
        (root / "a" / f"bad{i}.jpg").write_bytes(b"garbage")
    raw = read_class_folders(root, "imagefolder", 0, 0.0, 0.2)
    with pytest.raises(DataError, match=r"3 of 18 images unreadable .* > prepare.max_bad_fraction"):
        prepare_dataset(raw, tmp_path / "prepared", 16, max_bad_fraction=0.05, workers=1)
    assert not (tmp_path / "prepared").exists()
    assert not list(tmp_path.glob(".prepared.tmp-*"))


def test_stratified_subset_is_seeded_and_balanced():
    labels = np.repeat(np.arange(5), 20)
    sub = stratified_subset(labels, 20, seed=1)
    assert len(sub) == 20 and np.bincount(labels[sub]).tolist() == [4] * 5
    assert np.array_equal(sub, stratified_subset(labels, 20, seed=1))
    assert not np.array_equal(sub, stratified_subset(labels, 20, seed=2))
    assert len(stratified_subset(labels, 3, seed=0)) == 3


def test_prepare_real_flower_photos(tmp_path, shared_datasets):
    raw = read_class_folders(shared_datasets / "flower_photos", "flower_photos", 0, 0.15, 0.15)
    assert raw.class_names == ["daisy", "dandelion", "roses", "sunflowers", "tulips"]
    assert len(raw.records) == 3670
    small = type(raw)(raw.name, raw.class_names, raw.records[::10])  # every 10th image keeps the test quick
    report = prepare_dataset(small, tmp_path / "prepared", 64, 0.0)
    assert report["skipped"] == 0 and sum(report["counts"].values()) == len(small.records)
    train = open_split(tmp_path / "prepared", "train")
    assert train.image(0).shape == (64, 64, 3) and set(train.labels) == set(range(5))


@pytest.mark.parametrize(
    ("size", "target", "decoded"),
    [((320, 256), 128, (160, 128)), ((640, 512), 128, (160, 128)), ((300, 200), 128, (300, 200))],
)
def test_jpeg_decodes_at_reduced_size_when_twice_the_target(tmp_path, size, target, decoded):
    """Draft mode: DCT scaling to the smallest 1/2, 1/4, 1/8 size whose short side still reaches the target."""
    from finegrain.data.images import open_rgb

    path = tmp_path / "a.jpg"
    Image.new("RGB", size, (200, 40, 40)).save(path, quality=90)
    img, full_size = open_rgb(path, target_short_px=target)
    assert img.size == decoded and full_size == size
