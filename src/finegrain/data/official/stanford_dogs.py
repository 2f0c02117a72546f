"""Stanford Dogs (Khosla et al. 2011): images.tar, annotation.tar, lists.tar.

Layout: Images/<synset>-<breed>/<file>.jpg, Annotation/<synset>-<breed>/<file> (Pascal VOC XML, no extension),
train_list.mat / test_list.mat (`file_list`, `annotation_list`, `labels` 1..120).
Official train/test split; val is a seeded, stratified data.val_fraction of train. The box is the one around every
dog the VOC file marks (most images have one).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from finegrain.data.official.common import (
    build_dataset,
    carve_val,
    find_layout,
    layout_root,
    load_mat,
    mat_strings,
    read_voc_box,
)
from finegrain.data.remote import Checksum, RemoteFile
from finegrain.errors import DataError

if TYPE_CHECKING:
    from finegrain.data.config import DataCfg
    from finegrain.data.records import RawDataset

NAME = "stanford_dogs"
BASE_URL = "http://vision.stanford.edu/aditya86/ImageNetDogs/"
_SOURCE = (
    "tensorflow/datasets tensorflow_datasets/url_checksums/stanford_dogs.txt @ "
    "24211da0508a86f0a9efd82c69bab9d25cda0a20 (URL, size, sha256)"
)
FILES = (
    RemoteFile(
        "images.tar",
        BASE_URL + "images.tar",
        Checksum("sha256", "a443fc2f9a851aa1a7b8e4fa4af94b8459fce2c9f5a2f4dd4669cf9673a4ec58"),
        _SOURCE,
        size=793_579_520,
    ),
    RemoteFile(
        "annotation.tar",
        BASE_URL + "annotation.tar",
        Checksum("sha256", "662ed36f707be6b195c2fda392d8e153e83af28cedc8e2134a649f198def30fd"),
        _SOURCE,
        size=21_852_160,
    ),
    RemoteFile(
        "lists.tar",
        BASE_URL + "lists.tar",
        Checksum("sha256", "34b47cacd9a98b5d150e084f24d29391c084c55272295ec65c85651bc35f4d6c"),
        _SOURCE,
        size=481_280,
    ),
)
LIST_KEYS = ("file_list", "annotation_list", "labels")


def read_layout(root: Path, seed: int, val_fraction: float) -> RawDataset:
    root = find_layout(root, ("Images", "train_list.mat", "test_list.mat"), NAME)
    rows, names = [], {}
    for list_name, split in (("train_list.mat", "train"), ("test_list.mat", "test")):
        mat = load_mat(root / list_name, LIST_KEYS)
        files, annotations = mat_strings(mat["file_list"]), mat_strings(mat["annotation_list"])
        labels = np.atleast_1d(mat["labels"]).astype(int).tolist()
        if not len(files) == len(annotations) == len(labels):
            raise DataError(f"{NAME}: {root / list_name}: file_list, annotation_list and labels differ in length")
        split_rows = []
        for file, annotation, label in zip(files, annotations, labels, strict=True):
            folder = file.split("/", 1)[0]
            names.setdefault(label, folder.split("-", 1)[-1])
            voc = root / "Annotation" / annotation
            box = read_voc_box(voc) if voc.is_file() else None
            split_rows.append([file, split, label, root / "Images" / file, box])
        if split == "train":
            for row, name in zip(split_rows, carve_val(labels, seed, val_fraction), strict=True):
                row[1] = name
        rows += [tuple(r) for r in split_rows]
    return build_dataset(NAME, names, rows)


def read(cfg: DataCfg, raw_dir: Path) -> RawDataset:
    return read_layout(layout_root(cfg, raw_dir), cfg.split_seed, cfg.val_fraction)
