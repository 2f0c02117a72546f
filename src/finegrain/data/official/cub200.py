"""Caltech-UCSD Birds-200-2011 (Wah et al. 2011): CUB_200_2011.tgz.

Layout (CUB_200_2011/): images/<class>/<file>.jpg, images.txt (id path), image_class_labels.txt (id class),
train_test_split.txt (id is_train), bounding_boxes.txt (id x y w h), classes.txt (class name).
Official train/test split; val is a seeded, stratified data.val_fraction of train. Boxes become (x, y, x+w, y+h).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from finegrain.data.official.common import build_dataset, carve_val, find_layout, layout_root, read_table
from finegrain.data.remote import Checksum, RemoteFile
from finegrain.errors import DataError

if TYPE_CHECKING:
    from finegrain.data.config import DataCfg
    from finegrain.data.records import RawDataset

NAME = "cub200"
FILES = (
    RemoteFile(
        "CUB_200_2011.tgz",
        "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz",
        Checksum("md5", "97eceeb196236b17998738112f37df78"),
        "md5: TDeVries/cub2011_dataset cub2011.py @ 939292d3e510a520f5725fa0b0866044f83f693d (tgz_md5; the "
        "same md5 is in ContinualAI avalanche's CUB200 and other loaders); URL: the CaltechDATA record "
        "65de6-vp158 as in pyshen-watson/TAIR data/README.md and zijizhu/part-concept setup_cub.sh",
    ),
)
LISTS = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "bounding_boxes.txt", "classes.txt")


def read_layout(root: Path, seed: int, val_fraction: float) -> RawDataset:
    root = find_layout(root, ("images", *LISTS), NAME)
    paths = {int(i): p for i, p in read_table(root / "images.txt", 2)}
    class_of = {int(i): int(c) for i, c in read_table(root / "image_class_labels.txt", 2)}
    is_train = {int(i): t == "1" for i, t in read_table(root / "train_test_split.txt", 2)}
    boxes = {}
    for image_id, *xywh in read_table(root / "bounding_boxes.txt", 5):
        x, y, w, h = (float(v) for v in xywh)
        boxes[int(image_id)] = (x, y, x + w, y + h)
    names = {int(c): re.sub(r"^\d+\.", "", n) for c, n in read_table(root / "classes.txt", 2)}
    for what, table in (("image_class_labels.txt", class_of), ("train_test_split.txt", is_train)):
        missing = sorted(set(paths) - set(table))
        if missing:
            raise DataError(f"{NAME}: {root / what}: no row for image {missing[0]} of images.txt")
    ids = sorted(paths)
    train_ids = [i for i in ids if is_train[i]]
    val_of = dict(zip(train_ids, carve_val([class_of[i] for i in train_ids], seed, val_fraction), strict=True))
    rows = [(paths[i], val_of.get(i, "test"), class_of[i], root / "images" / paths[i], boxes.get(i)) for i in ids]
    return build_dataset(NAME, names, rows)


def read(cfg: DataCfg, raw_dir: Path) -> RawDataset:
    return read_layout(layout_root(cfg, raw_dir), cfg.split_seed, cfg.val_fraction)
