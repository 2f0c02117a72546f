"""Reliability: awkward and broken images and layouts, through the real prepare stage (in-process)."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from battery import (
    class_tree,
    folder_params,
    huge_png,
    image_bytes,
    leftovers,
    noise,
    prepare_folder,
    run_stage_here,
    stored,
    write_params,
)
from cases import case, expect
from conftest import deep_merge
from dataset_fixtures import build, extract_layout, mat_bytes
from PIL import Image

from finegrain.data.images import open_rgb, square_resize

SKIP_SUMMARY = "skipped 1 unreadable image(s); the list is in data/prepared/skipped.json"
ALL_KEPT = "the stage succeeds; every image is in data/prepared"


def prepared_ok(tmp_path, extra: dict[str, bytes]):
    """Prepare a tree with `extra`; assert it succeeded silently; return id -> (row, image)."""
    out, project = prepare_folder(tmp_path, extra)
    assert (out.code, out.errors, out.warnings) == (0, [], [])
    return stored(project)


def skipped_one(tmp_path, name: str, data: bytes):
    """Prepare a tree with one bad file a/<name>; return (warnings, stored images, skipped.json)."""
    out, project = prepare_folder(tmp_path, {f"a/{name}": data})
    assert out.code == 0 and out.errors == []
    images = stored(project)
    assert f"a/{name}" not in images and len(images) == 8
    skipped = __import__("json").loads((project / "data" / "prepared" / "skipped.json").read_text())
    assert [s["id"] for s in skipped] == [f"a/{name}"]
    return out.warnings, skipped


@case(
    "Data",
    "a truncated JPEG (half its bytes) among good images",
    "skipped a/truncated.jpg: corrupt or truncated image data (OSError: image file is truncated (148 bytes not "
    "processed))",
    "the image is skipped and listed in data/prepared/skipped.json; the other 8 are prepared (the stage fails only "
    "above prepare.max_bad_fraction)",
)
def test_truncated_jpeg(tmp_path):
    jpeg = image_bytes(noise(99, (64, 64)), "JPEG", quality=90)
    warnings, skipped = skipped_one(tmp_path, "truncated.jpg", jpeg[: len(jpeg) // 2])
    assert warnings == [expect(test_truncated_jpeg), SKIP_SUMMARY]
    assert skipped[0]["reason"] == expect(test_truncated_jpeg).split(": ", 1)[1]


@case(
    "Data",
    "a zero-byte .jpg",
    "skipped a/empty.jpg: empty file (0 bytes)",
    "the file is skipped and listed in skipped.json; the other images are prepared",
)
def test_zero_byte_file(tmp_path):
    warnings, _ = skipped_one(tmp_path, "empty.jpg", b"")
    assert warnings == [expect(test_zero_byte_file), SKIP_SUMMARY]


@case(
    "Data",
    "a text file named .jpg (not an image at all)",
    "skipped a/notes.jpg: not an image (no known image format)",
    "the file is skipped and listed in skipped.json; the other images are prepared",
)
def test_non_image_with_image_suffix(tmp_path):
    warnings, _ = skipped_one(tmp_path, "notes.jpg", b"shopping list: eggs, milk\n")
    assert warnings == [expect(test_non_image_with_image_suffix), SKIP_SUMMARY]


@case("Data", "a PNG renamed .jpg", "", "decoded by its content, not its name; pixels exact")
def test_png_renamed_jpg(tmp_path):
    images = prepared_ok(tmp_path, {"a/png.jpg": image_bytes(Image.new("RGB", (30, 30), (0, 200, 0)), "PNG")})
    assert (images["a/png.jpg"][1] == [0, 200, 0]).all()


@case("Data", "a CMYK JPEG", "", "converted to RGB (C=0 M=255 Y=0 K=0 is magenta)")
def test_cmyk_jpeg(tmp_path):
    images = prepared_ok(tmp_path, {"a/cmyk.jpg": image_bytes(Image.new("CMYK", (50, 40), (0, 255, 0, 0)), "JPEG")})
    assert np.abs(images["a/cmyk.jpg"][1].astype(int) - [255, 0, 255]).max() <= 3


@case("Data", "a 16-bit greyscale PNG (value 40000 of 65535)", "", "scaled to 8 bits by the 16-bit range: 156")
def test_16bit_png(tmp_path):
    grey = Image.fromarray(np.full((30, 40), 40000, dtype=np.uint16))
    images = prepared_ok(tmp_path, {"a/grey16.png": image_bytes(grey, "PNG")})
    assert (images["a/grey16.png"][1] == 156).all()


@case("Data", "an RGBA PNG, fully transparent red", "", "composited on white: (255, 255, 255), not red or black")
def test_rgba_png(tmp_path):
    images = prepared_ok(tmp_path, {"a/rgba.png": image_bytes(Image.new("RGBA", (40, 30), (255, 0, 0, 0)), "PNG")})
    assert (images["a/rgba.png"][1] == 255).all()


@case("Data", "a palette (P mode) PNG", "", "palette colours resolved: (0, 128, 255)")
def test_palette_png(tmp_path):
    img = Image.new("P", (40, 30), 1)
    img.putpalette([0, 0, 0, 0, 128, 255] + [0] * (256 * 3 - 6))
    images = prepared_ok(tmp_path, {"a/palette.png": image_bytes(img, "PNG")})
    assert (images["a/palette.png"][1] == [0, 128, 255]).all()


@case("Data", "a greyscale (L mode) JPEG", "", "replicated to 3 equal channels")
def test_greyscale_jpeg(tmp_path):
    images = prepared_ok(tmp_path, {"a/grey.jpg": image_bytes(Image.new("L", (40, 30), 128), "JPEG")})
    pixels = images["a/grey.jpg"][1].astype(int)
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    assert np.abs(pixels - 128).max() <= 2


@case("Data", "a 1x1 image", "", "upscaled to prepare.size_px; its colour kept exactly; orig_w x orig_h = 1 x 1")
def test_one_pixel_image(tmp_path):
    images = prepared_ok(tmp_path, {"a/dot.png": image_bytes(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG")})
    row, pixels = images["a/dot.png"]
    assert pixels.shape == (16, 16, 3) and (pixels == [1, 2, 3]).all() and (row["orig_w"], row["orig_h"]) == (1, 1)


@case(
    "Data",
    "a 10000x10000 PNG (100M pixels, a 12 KB file): decompression bomb",
    "skipped a/huge.png: 10000x10000 exceeds the 64000000 pixel decompression-bomb limit",
    "refused from the header, before any pixel is decoded; skipped and listed in skipped.json",
)
def test_decompression_bomb(tmp_path):
    warnings, _ = skipped_one(tmp_path, "huge.png", huge_png(10_000, 10_000))
    assert warnings == [expect(test_decompression_bomb), SKIP_SUMMARY]


@case(
    "Data",
    "a 20000x20000 PNG (400M pixels, beyond PIL's own hard limit)",
    "skipped a/huge.png: image of 400000000 pixels exceeds the 64000000 pixel decompression-bomb limit",
    "refused by PIL's header check; reported in the same words; skipped and listed in skipped.json",
)
def test_decompression_bomb_beyond_pil_limit(tmp_path):
    warnings, _ = skipped_one(tmp_path, "huge.png", huge_png(20_000, 20_000))
    assert warnings == [expect(test_decompression_bomb_beyond_pil_limit), SKIP_SUMMARY]


@case(
    "Data",
    "an EXIF-rotated photo (stored 60x20, orientation 6: shown 20x60, left half red shown on top)",
    "",
    "orientation applied before the resize: red on top, blue below; orig_w x orig_h = 20 x 60",
)
def test_exif_rotation(tmp_path):
    stored_img = np.zeros((20, 60, 3), dtype=np.uint8)
    stored_img[:, :30] = (255, 0, 0)
    stored_img[:, 30:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = image_bytes(Image.fromarray(stored_img), "JPEG", quality=95, exif=exif)
    row, pixels = prepared_ok(tmp_path, {"a/rotated.jpg": data})["a/rotated.jpg"]
    assert (row["orig_w"], row["orig_h"]) == (20, 60)
    assert pixels[2, 8, 0] > 200 and pixels[2, 8, 2] < 60  # top: red
    assert pixels[13, 8, 2] > 200 and pixels[13, 8, 0] < 60  # bottom: blue


@case(
    "Data",
    "an empty class folder",
    "data.root: folder 'empty' has no images; it is not a class",
    "the folder is not a class (class_names stay a, b); every image is prepared",
)
def test_empty_class_folder(tmp_path):
    root = class_tree(tmp_path / "photos")
    (root / "empty").mkdir()
    write_params(tmp_path / "project", folder_params(root))
    out = run_stage_here(tmp_path / "project", "prepare")
    assert (out.code, out.warnings) == (0, [expect(test_empty_class_folder)])
    meta = __import__("json").loads((tmp_path / "project" / "data" / "prepared" / "meta.json").read_text())
    assert meta["class_names"] == ["a", "b"]


@case(
    "Data",
    "a class folder holding non-image files (notes.txt, Thumbs.db) besides its images; hidden files (.DS_Store)",
    "data.root: folder 'a': ignored 2 non-image file(s), e.g. a/Thumbs.db",
    "the non-image files are ignored (hidden ones silently); all 8 images are prepared",
)
def test_non_image_files_in_class_folder(tmp_path):
    extra = {"a/notes.txt": b"notes", "a/Thumbs.db": b"\0" * 10, "a/.DS_Store": b"\0" * 10}
    out, project = prepare_folder(tmp_path, extra)
    assert (out.code, out.warnings) == (0, [expect(test_non_image_files_in_class_folder)])
    assert len(stored(project)) == 8


@case(
    "Data",
    "the same file names in every class folder (a/0.jpg and b/0.jpg ...)",
    "",
    "ids are <class>/<file>, so nothing collides: all 8 images are kept with their own label and pixels",
)
def test_duplicate_names_across_classes(tmp_path):
    images = prepared_ok(tmp_path, {})
    assert sorted(images) == [f"{c}/{i}.jpg" for c in "ab" for i in range(4)]
    for c, label in (("a", 0), ("b", 1)):
        row, pixels = images[f"{c}/0.jpg"]
        img, size = open_rgb(tmp_path / "photos" / c / "0.jpg")
        assert row["label"] == label and np.array_equal(pixels, square_resize(img, 16, None, size)[0])
    assert not np.array_equal(images["a/0.jpg"][1], images["b/0.jpg"][1])


@case(
    "Data",
    "CUB-200 with image_class_labels.txt one row shorter than images.txt",
    "error: cub200: {root}/CUB_200_2011/image_class_labels.txt: no row for image 15 of images.txt",
    "the stage stops before decoding anything (exit 2); no data/prepared is written",
)
def test_labels_file_shorter_than_image_list(tmp_path):
    root = extract_layout(build("cub200"), tmp_path / "cub")
    labels = root / "CUB_200_2011" / "image_class_labels.txt"
    labels.write_text("".join(labels.read_text().splitlines(keepends=True)[:-1]))
    write_params(tmp_path / "project", {"data": {"dataset": "cub200", "source": "local", "root": str(root)}})
    out = run_stage_here(tmp_path / "project", "prepare")
    assert out.error == expect(test_labels_file_shorter_than_image_list, root=root)
    assert not (tmp_path / "project" / "data").exists()


@case(
    "Data",
    "Flowers-102 with imagelabels.mat labelling 11 images while setid.mat names 12",
    "error: flowers102: {root}/setid.mat: tstid names image 12; imagelabels.mat labels 11 images",
    "the stage stops before decoding anything (exit 2); no data/prepared is written",
)
def test_label_list_shorter_than_split_ids(tmp_path):
    root = extract_layout(build("flowers102"), tmp_path / "flowers")
    (root / "imagelabels.mat").write_bytes(mat_bytes({"labels": np.array([[1, 5, 102] * 3 + [1, 5]], np.uint8)}))
    write_params(tmp_path / "project", {"data": {"dataset": "flowers102", "source": "local", "root": str(root)}})
    out = run_stage_here(tmp_path / "project", "prepare")
    assert out.error == expect(test_label_list_shorter_than_split_ids, root=root)
    assert not (tmp_path / "project" / "data").exists()


@case(
    "Data",
    "a truncated official label file (imagelabels.mat cut to 100 bytes)",
    "error: {root}/imagelabels.mat: not a readable .mat file (IndexError: index out of range)",
    "the stage stops (exit 2); no data/prepared is written",
)
def test_truncated_mat_file(tmp_path):
    root = extract_layout(build("flowers102"), tmp_path / "flowers")
    (root / "imagelabels.mat").write_bytes(build("flowers102")["imagelabels.mat"][:100])
    write_params(tmp_path / "project", {"data": {"dataset": "flowers102", "source": "local", "root": str(root)}})
    out = run_stage_here(tmp_path / "project", "prepare")
    assert out.error == expect(test_truncated_mat_file, root=root)


@case(
    "Data",
    "Oxford Pets whose test.txt names Bengal_6, an image missing from images/",
    "skipped Bengal_6.jpg: no such file",
    "the missing image is skipped and listed in skipped.json (it counts towards prepare.max_bad_fraction); "
    "the other 17 are prepared",
)
def test_split_file_names_a_missing_image(tmp_path):
    root = extract_layout(build("oxford_pets"), tmp_path / "pets")
    (root / "images" / "Bengal_6.jpg").unlink()
    write_params(tmp_path / "project", {"data": {"dataset": "oxford_pets", "source": "local", "root": str(root)}})
    out = run_stage_here(tmp_path / "project", "prepare")
    assert (out.code, out.warnings) == (0, [expect(test_split_file_names_a_missing_image), SKIP_SUMMARY])
    assert len(stored(tmp_path / "project")) == 17


@case(
    "Data",
    "unicode and spaces in data.root, class and file names ('mes photos/chats élégants/été 1 ñ.jpg')",
    "",
    "names kept as given: class 'chats élégants', id 'chats élégants/été 1 ñ.jpg'",
)
def test_unicode_and_spaces_in_paths(tmp_path):
    root = class_tree(tmp_path / "mes photos", classes=("chats élégants", "chiens"))
    (root / "chats élégants" / "0.jpg").rename(root / "chats élégants" / "été 1 ñ.jpg")
    write_params(tmp_path / "pro jet", folder_params(root))
    out = run_stage_here(tmp_path / "pro jet", "prepare")
    assert (out.code, out.errors, out.warnings) == (0, [], [])
    images = stored(tmp_path / "pro jet")
    assert images["chats élégants/été 1 ñ.jpg"][0]["class_name"] == "chats élégants"


@case(
    "Data",
    "3 unreadable files among 11 with prepare.max_bad_fraction 0.02",
    "error: 3 of 11 images unreadable (27.3% > prepare.max_bad_fraction 2.0%); first: a/bad0.jpg: not an image "
    "(no known image format)",
    "the stage fails (exit 2) and writes nothing: no data/prepared, no temp dir left",
)
def test_too_many_unreadable_images(tmp_path):
    extra = {f"a/bad{i}.jpg": b"not an image" for i in range(3)}
    out, project = prepare_folder(tmp_path, extra, max_bad_fraction=0.02)
    assert out.error == expect(test_too_many_unreadable_images)
    assert not (project / "data" / "prepared").exists() and leftovers(project / "data") == []


@case(
    "Data",
    "data.root pointing at a directory that does not exist",
    "error: data.root: {root} is not a directory (expected <root>/<class>/<image> folders)",
    "the stage stops before any work (exit 2)",
)
def test_missing_data_root(tmp_path):
    root = tmp_path / "nowhere"
    write_params(tmp_path / "project", folder_params(root))
    out = run_stage_here(tmp_path / "project", "prepare")
    assert out.error == expect(test_missing_data_root, root=root)


@case(
    "Data",
    "a data.root with a single class folder",
    "error: data.root: {root} has 1 class folder(s) with images; expected at least 2",
    "the stage stops before any work (exit 2)",
)
def test_single_class(tmp_path):
    root = class_tree(tmp_path / "photos", classes=("only",))
    write_params(tmp_path / "project", folder_params(root))
    out = run_stage_here(tmp_path / "project", "prepare")
    assert out.error == expect(test_single_class, root=root)


@case(
    "Data",
    "the disk fills up while prepare writes its shards (a patched writer raises ENOSPC)",
    "error: No space left on device: {path}; free some disk space and run the stage again",
    "nothing half-written: the previous data/prepared is kept unchanged, the temp dir is removed",
)
def test_disk_full_while_writing_shards(tmp_path, monkeypatch):
    out, project = prepare_folder(tmp_path, {})
    before = (project / "data" / "prepared" / "index.parquet").read_bytes()
    written = []

    def full_disk(path, array):
        written.append(str(path))
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(np, "save", full_disk)
    out = run_stage_here(project, "prepare")
    assert out.error == expect(test_disk_full_while_writing_shards, path=written[0])
    assert (project / "data" / "prepared" / "index.parquet").read_bytes() == before
    assert leftovers(project / "data") == []


def copy_of(root, rel: str) -> bytes:
    return (root / rel).read_bytes()


@case(
    "Data",
    "Jupyter's .ipynb_checkpoints/0-checkpoint.jpg copies inside a class folder, and a hidden .trash/ class folder",
    "",
    "hidden files and folders (dot-prefixed) are never images or classes: class_names stay a, b; the 8 images are "
    "prepared, no checkpoint copy (which could land in another split than its original: a train/test leak)",
)
def test_hidden_checkpoint_copies_are_not_images(tmp_path):
    root = class_tree(tmp_path / "photos")
    extra = {
        "a/.ipynb_checkpoints/0-checkpoint.jpg": copy_of(root, "a/0.jpg"),
        ".trash/x/1.jpg": copy_of(root, "b/1.jpg"),
    }
    class_tree(root, extra)
    write_params(tmp_path / "project", folder_params(root))
    out = run_stage_here(tmp_path / "project", "prepare")
    assert (out.code, out.errors, out.warnings) == (0, [], [])
    images = stored(tmp_path / "project")
    assert sorted(images) == [f"{c}/{i}.jpg" for c in "ab" for i in range(4)]


@case(
    "Data",
    "byte-identical copies of one image in a class (a/copy_of_0.jpg = a/0.jpg) and across classes (b/from_a.jpg = "
    "a/1.jpg), with 1 test image in 4",
    "data.root: 2 image(s) are byte-identical copies of another (e.g. a/copy_of_0.jpg = a/0.jpg); each copy is "
    "kept in its original's split, so none leaks between train, val and test",
    "every copy lands in its original's split (the split is drawn per distinct image); a second warning names the "
    "copies across classes: 'data.root: 1 image(s) are copies of an image in another class (e.g. b/from_a.jpg = "
    "a/1.jpg): one image, two labels'",
)
def test_identical_copies_stay_in_one_split(tmp_path):
    root = class_tree(tmp_path / "photos")
    class_tree(root, {"a/copy_of_0.jpg": copy_of(root, "a/0.jpg"), "b/from_a.jpg": copy_of(root, "a/1.jpg")})
    write_params(tmp_path / "project", folder_params(root))
    out = run_stage_here(tmp_path / "project", "prepare")
    across = (
        "data.root: 1 image(s) are copies of an image in another class (e.g. b/from_a.jpg = a/1.jpg): one image, "
        "two labels"
    )
    assert (out.code, out.warnings) == (0, [expect(test_identical_copies_stay_in_one_split), across])
    split = {image_id: row["split"] for image_id, (row, _) in stored(tmp_path / "project").items()}
    assert split["a/copy_of_0.jpg"] == split["a/0.jpg"] and split["b/from_a.jpg"] == split["a/1.jpg"]
    assert len(split) == 10


@case(
    "Data",
    "data.root one level too high: <root>/train/<class>/ and <root>/test/<class>/",
    "error: data.root: {root} looks one level too high: 'test', 'train' hold class folders, not images (e.g. "
    "train/a/0.jpg); set data.root to one of them, e.g. {root}/train",
    "the stage stops before decoding anything (exit 2) instead of training on two classes named train and test",
)
def test_root_one_level_too_high(tmp_path):
    root = tmp_path / "photos"
    class_tree(root / "train")
    class_tree(root / "test")
    for c in "ab":
        for i in (2, 3):
            (root / "test" / c / f"{i}.jpg").unlink()
    write_params(tmp_path / "project", folder_params(root))
    out = run_stage_here(tmp_path / "project", "prepare")
    assert out.error == expect(test_root_one_level_too_high, root=root)
    assert not (tmp_path / "project" / "data").exists()


@case(
    "Data",
    "data.root one level too low: pointing at a class folder (<root>/<class>/<images>)",
    "error: data.root: {root} holds 4 image(s) but no class folders; set data.root to the folder above it, "
    "{parent}, if its sub-folders are the classes",
    "the stage stops before decoding anything (exit 2)",
)
def test_root_one_level_too_low(tmp_path):
    root = class_tree(tmp_path / "photos") / "a"
    write_params(tmp_path / "project", folder_params(root))
    out = run_stage_here(tmp_path / "project", "prepare")
    assert out.error == expect(test_root_one_level_too_low, root=root, parent=root.parent)


@case(
    "Data",
    "a symlink loop in data.root (all -> .)",
    "data.root: did not follow symlink all -> {target}: it leads back into data.root (a loop or a second copy)",
    "the link is not a class and nothing is read twice: class_names stay a, b; the 8 images are prepared once",
)
def test_symlink_loop_in_root(tmp_path):
    root = class_tree(tmp_path / "photos")
    (root / "all").symlink_to(".")
    (root / "a" / "up").symlink_to("..")
    write_params(tmp_path / "project", folder_params(root))
    out = run_stage_here(tmp_path / "project", "prepare")
    target = os.path.realpath(root)
    up = f"data.root: did not follow symlink a/up -> {target}: it leads back into data.root (a loop or a second copy)"
    assert (out.code, out.warnings) == (0, [expect(test_symlink_loop_in_root, target=target), up])
    assert len(stored(tmp_path / "project")) == 8


@case(
    "Data",
    "a class folder that is a symlink to a folder outside data.root",
    "",
    "followed like a folder: class 'c' holds its 4 images",
)
def test_symlinked_class_folder_outside_root(tmp_path):
    root = class_tree(tmp_path / "photos")
    elsewhere = class_tree(tmp_path / "elsewhere", classes=("x", "y", "c"))  # noise of their own, no copies
    (root / "c").symlink_to(elsewhere / "c")
    images = prepared_ok_at(tmp_path, root)
    assert sorted(i for i in images if i.startswith("c/")) == [f"c/{i}.jpg" for i in range(4)]


def prepared_ok_at(tmp_path, root):
    write_params(tmp_path / "project", folder_params(root))
    out = run_stage_here(tmp_path / "project", "prepare")
    assert (out.code, out.errors, out.warnings) == (0, [], [])
    return stored(tmp_path / "project")


@case(
    "Data",
    "a broken symlink named a/gone.jpg",
    "skipped a/gone.jpg: broken symlink (its target {target} does not exist)",
    "counted as skipped and listed in skipped.json with the reason (it counts towards prepare.max_bad_fraction); "
    "the other 8 are prepared",
)
def test_broken_symlink_is_counted_as_skipped(tmp_path):
    root = class_tree(tmp_path / "photos")
    target = tmp_path / "moved" / "gone.jpg"
    (root / "a" / "gone.jpg").symlink_to(target)
    write_params(tmp_path / "project", folder_params(root))
    out = run_stage_here(tmp_path / "project", "prepare")
    assert (out.code, out.warnings) == (
        0,
        [expect(test_broken_symlink_is_counted_as_skipped, target=target), SKIP_SUMMARY],
    )
    skipped = json.loads((tmp_path / "project" / "data" / "prepared" / "skipped.json").read_text())
    assert [s["id"] for s in skipped] == ["a/gone.jpg"] and len(stored(tmp_path / "project")) == 8
    assert json.loads((tmp_path / "project" / "metrics" / "prepare.json").read_text())["skipped"] == 1


@case(
    "Data",
    "a 1x100000 PNG (passes the 64M pixel guard, but resizing its short side to size_px makes it size_px x "
    "100000*size_px)",
    "skipped a/strip.png: 1x100000: aspect ratio 100000:1 exceeds the 25:1 limit (its centre square would keep "
    "0.001% of the image)",
    "refused from the header, before any pixel is decoded or resized; skipped and listed in skipped.json",
)
def test_extreme_aspect_ratio(tmp_path):
    warnings, _ = skipped_one(tmp_path, "strip.png", huge_png(1, 100_000))
    assert warnings == [expect(test_extreme_aspect_ratio), SKIP_SUMMARY]


@case("Data", "upper- and mixed-case extensions (A.JPG, b.JpEg, c.PNG)", "", "read like lower-case ones: all prepared")
def test_uppercase_extensions(tmp_path):
    extra = {
        "a/A.JPG": image_bytes(noise(50), "JPEG"),
        "a/b.JpEg": image_bytes(noise(51), "JPEG"),
        "b/c.PNG": image_bytes(noise(52), "PNG"),
    }
    images = prepared_ok(tmp_path, extra)
    assert {"a/A.JPG", "a/b.JpEg", "b/c.PNG"} <= set(images) and len(images) == 11


@case(
    "Data",
    "data.test_fraction 0.1 with 4 images per class (0.4 test images per class rounds to 0)",
    "",
    "every class still gets 1 test image (and keeps 3 for training): a split with a non-zero fraction never "
    "misses a class",
)
def test_every_class_gets_a_test_image(tmp_path):
    root = class_tree(tmp_path / "photos", classes=("a", "b", "c"))
    params = folder_params(root)
    params["data"]["test_fraction"] = 0.1
    write_params(tmp_path / "project", params)
    out = run_stage_here(tmp_path / "project", "prepare")
    assert (out.code, out.errors, out.warnings) == (0, [], [])
    rows = [row for row, _ in stored(tmp_path / "project").values()]
    assert sorted(r["class_name"] for r in rows if r["split"] == "test") == ["a", "b", "c"]


@case(
    "Data",
    "class folders with a single image each (c, d) with test_fraction 0.25",
    "error: data.root: 2 class(es) have fewer distinct images than the 2 splits to fill (train, test; "
    "data.val_fraction 0.0, data.test_fraction 0.25): 'c' (1), 'd' (1); add images, or move these folders out of "
    "data.root",
    "the stage stops before decoding anything (exit 2), instead of a class with no test image",
)
def test_class_too_small_to_split(tmp_path):
    root = class_tree(tmp_path / "photos", classes=("a", "b", "c", "d"))
    for c in "cd":
        for i in (1, 2, 3):
            (root / c / f"{i}.jpg").unlink()
    write_params(tmp_path / "project", folder_params(root))
    out = run_stage_here(tmp_path / "project", "prepare")
    assert out.error == expect(test_class_too_small_to_split)


@pytest.fixture(scope="module")
def tree_edits(tmp_path_factory) -> dict:
    """A real git+DVC project on a local imagefolder tree: `dvc repro prepare`, then again with the tree unchanged,
    then after one image was added and another removed. Records which stages ran and which images were prepared."""
    from conftest import dvc, make_project

    base = tmp_path_factory.mktemp("tree_edits")
    root = class_tree(base / "photos")
    overrides = deep_merge(folder_params(root), {"prepare": {"size_px": 16, "workers": 1}, "crop": {"mode": "none"}})
    project = make_project(base / "project", overrides)

    def repro() -> dict:
        out = dvc(project, "repro", "prepare").stdout
        index = pd.read_parquet(project / "data" / "prepared" / "index.parquet")
        return {"out": out, "ran": set(re.findall(r"Running stage '([^']+)'", out)), "ids": sorted(index["id"])}

    steps = {"first": repro(), "unchanged": repro()}
    (root / "a" / "new.jpg").write_bytes(image_bytes(noise(77), "JPEG"))
    (root / "b" / "0.jpg").unlink()
    steps["edited"] = repro()
    return steps


@pytest.mark.slow
@case(
    "Data",
    "dvc repro after an image was added to a local data.root and another removed",
    "Running stage 'prepare':",
    "DVC sees the change: the always-changed fingerprint stage rewrites data/fingerprint.json, prepare re-runs and "
    "holds a/new.jpg, not b/0.jpg (before: 'Data and pipelines are up to date', training on the old images)",
)
def test_edited_local_tree_reruns_prepare(tree_edits):
    assert tree_edits["first"]["ran"] == {"download", "fingerprint", "prepare"}
    edited = tree_edits["edited"]
    assert edited["ran"] == {"fingerprint", "prepare"}, edited["out"]
    assert expect(test_edited_local_tree_reruns_prepare) in edited["out"].splitlines()
    assert "a/new.jpg" in edited["ids"] and "b/0.jpg" not in edited["ids"] and len(edited["ids"]) == 8


@pytest.mark.slow
@case(
    "Data",
    "dvc repro with a local data.root unchanged since the last run",
    "Stage 'prepare' didn't change, skipping",
    "only the fingerprint stage runs (a walk of the tree: paths, sizes, mtimes; no image is read); its output is "
    "byte-identical, so nothing downstream re-runs",
)
def test_unchanged_local_tree_reruns_nothing(tree_edits):
    assert tree_edits["unchanged"]["ran"] == {"fingerprint"}, tree_edits["unchanged"]["out"]
    assert expect(test_unchanged_local_tree_reruns_nothing) in tree_edits["unchanged"]["out"].splitlines()
    assert tree_edits["unchanged"]["ids"] == tree_edits["first"]["ids"]


@case(
    "Data",
    "data.root moved or deleted after a run, then dvc repro (the fingerprint stage runs first)",
    "error: data.root: {root} is not a directory",
    "the pipeline stops at its first stage (exit 2); every output of the last run is kept",
)
def test_local_root_gone_after_a_run(tmp_path):
    out, project = prepare_folder(tmp_path, {})
    assert run_stage_here(project, "fingerprint").code == 0
    root = tmp_path / "photos"
    root.rename(tmp_path / "moved")
    out = run_stage_here(project, "fingerprint")
    assert out.error == expect(test_local_root_gone_after_a_run, root=root)
    assert len(stored(project)) == 8


@case(
    "Data",
    "a relative data.root (../photos) that does not resolve from where the stage runs (e.g. a queued experiment, "
    "run in a temporary copy of the project)",
    "error: data.root: ../photos is not a directory (relative to {cwd}: a queued experiment runs in a copy of the "
    "project elsewhere, so give an absolute path)",
    "the pipeline stops at its first stage (exit 2) with the directory the path was resolved from",
)
def test_relative_root_that_does_not_resolve(tmp_path):
    project = tmp_path / "elsewhere" / "copy"
    write_params(project, folder_params(Path("../photos")))
    out = run_stage_here(project, "fingerprint")
    assert out.error == expect(test_relative_root_that_does_not_resolve, cwd=project)


@case(
    "Data",
    "a file and a class folder whose names are not UTF-8 (Latin-1 'café', e.g. from an old zip)",
    "",
    "prepared like any other: ids and class names write the stray byte as \\xe9 ('caf\\xe9/0.jpg'), the file is "
    "read from its real name (before: a UnicodeEncodeError traceback from the index writer)",
)
def test_non_utf8_names(tmp_path):
    root = class_tree(tmp_path / "photos")
    latin1 = os.path.join(os.fsencode(root), b"caf\xe9")
    os.rename(os.fsencode(root / "b"), latin1)
    os.rename(os.path.join(os.fsencode(root / "a"), b"0.jpg"), os.path.join(os.fsencode(root / "a"), b"\xe9t\xe9.jpg"))
    images = prepared_ok_at(tmp_path, root)
    assert run_stage_here(tmp_path / "project", "fingerprint").code == 0
    assert "a/\\xe9t\\xe9.jpg" in images and images["caf\\xe9/0.jpg"][0]["class_name"] == "caf\\xe9"


@case(
    "Data",
    "data.test_fraction 0 on a folder dataset (no test split)",
    "error: dataset 'imagefolder': split 'test' would be empty (counts: {{'train': 8, 'val': 0, 'test': 0}}); folder "
    "datasets take it from data.test_fraction > 0",
    "the stage stops before decoding anything (exit 2), not after",
)
def test_no_test_split(tmp_path):
    root = class_tree(tmp_path / "photos")
    params = folder_params(root)
    params["data"]["test_fraction"] = 0.0
    write_params(tmp_path / "project", params)
    out = run_stage_here(tmp_path / "project", "prepare")
    assert out.error == expect(test_no_test_split)
    assert not (tmp_path / "project" / "data").exists()


@case(
    "Data",
    "a class whose every training image is unreadable (text files named .jpg; 1 test image in 4)",
    "error: dataset 'imagefolder': class 'c' has no readable train image (skipped: {first}: not an image (no known "
    "image format)); fix or remove its files (1 class(es) in all)",
    "the stage stops (exit 2) and writes nothing, instead of a class the model never sees but is scored on",
)
def test_class_without_readable_train_images(tmp_path):
    from finegrain.data.folders import read_class_folders

    root = class_tree(tmp_path / "photos", classes=("a", "b", "c"))
    raw = read_class_folders(root, "imagefolder", 0, 0.0, 0.25)
    train_c = [r for r in raw.records if r.split == "train" and r.id.startswith("c/")]
    for record in train_c:
        record.path.write_bytes(b"not an image")
    write_params(tmp_path / "project", folder_params(root, max_bad_fraction=0.5))
    out = run_stage_here(tmp_path / "project", "prepare")
    assert out.error == expect(test_class_without_readable_train_images, first=train_c[0].id)
    assert not (tmp_path / "project" / "data" / "prepared").exists()


@case(
    "Data",
    "data.root written with ~ (~/photos) for an imagefolder dataset",
    "",
    "expanded to the home directory, as for every other dataset and the fingerprint (before: 'data.root: ~/photos "
    "is not a directory')",
)
def test_root_with_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    class_tree(tmp_path / "photos")
    images = prepared_ok_at(tmp_path, Path("~/photos"))
    assert len(images) == 8


@case(
    "Data",
    "images nested one level deeper inside each class (a/batch_a/0.jpg, b/batch_b/0.jpg)",
    "",
    "read as classes a and b (images anywhere under a class folder belong to it); only when every top folder holds "
    "just sub-folders whose names repeat across them (train/a, test/a) or are split names is the root called one "
    "level too high",
)
def test_nested_images_inside_classes(tmp_path):
    flat = class_tree(tmp_path / "flat")
    root = tmp_path / "photos"
    for c in "ab":
        (root / c).mkdir(parents=True)
        (flat / c).rename(root / c / f"batch_{c}")
    images = prepared_ok_at(tmp_path, root)
    assert sorted({row["class_name"] for row, _ in images.values()}) == ["a", "b"] and len(images) == 8


@case(
    "Data",
    "images smaller than the stored size (24x20 px photos, prepare.size_px: 32), then a variant at image_size_px: "
    "24 (below the stored 32, above the photos' own 20)",
    "variants.cnn.image_size_px (24) is above the source images' median short side (20): train@cnn trains on "
    "images upsampled 1.2x per side; lower variants.cnn.image_size_px unless that is the intent",
    "prepare keeps the images' median short side in data/prepared/meta.json (`source_short_side_px`; its log says "
    "it stores them upsampled), so train warns and records it in summary.json (before: no word, e.g. CIFAR-10's "
    "32 px images stored at the default 128 px and trained at 64)",
)
def test_images_smaller_than_the_stored_size(tmp_path):
    overrides = folder_params(class_tree(tmp_path / "photos", classes=("a", "b", "c")), size_px=32)
    overrides["data"].update(val_fraction=0.25)
    overrides.update(
        train={"epochs": 1, "image_size_px": 24, "batch_size": 2, "augment": "none"},
        variants={"cnn": {"data": "prepared", "init": "none"}},
    )
    project = tmp_path / "project"
    write_params(project, overrides)
    assert run_stage_here(project, "prepare").code == 0
    assert json.loads((project / "data" / "prepared" / "meta.json").read_text())["source_short_side_px"] == 20
    trained = run_stage_here(project, "train", "cnn")
    assert (trained.code, trained.warnings) == (0, [expect(test_images_smaller_than_the_stored_size)])
    summary = json.loads((project / "data" / "models" / "cnn" / "summary.json").read_text())
    assert summary["upsampled"]["stored_px"] == 20
