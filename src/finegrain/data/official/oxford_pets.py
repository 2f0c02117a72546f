"""Oxford-IIIT Pet (Parkhi et al. 2012): images.tar.gz + annotations.tar.gz.

Layout: images/<Breed_name>_<n>.jpg, annotations/{trainval,test}.txt ('<image> <class id> <species> <breed id>',
'#' comment lines in list.txt), annotations/xmls/<image>.xml (Pascal VOC head boxes, for part of trainval only).
Official trainval/test split; val is a seeded, stratified data.val_fraction of trainval. Images without an XML
get box=None.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from finegrain.data.official.common import (
    build_dataset,
    carve_val,
    find_layout,
    layout_root,
    read_table,
    read_voc_box,
)
from finegrain.data.remote import Checksum, RemoteFile
from finegrain.errors import DataError

if TYPE_CHECKING:
    from finegrain.data.config import DataCfg
    from finegrain.data.records import RawDataset

NAME = "oxford_pets"
BASE_URL = "https://www.robots.ox.ac.uk/~vgg/data/pets/data/"
_SOURCE = (
    "pytorch/vision torchvision/datasets/oxford_iiit_pet.py @ 404ec61827a09544ff4785ed7607e8387e619f30 "
    "(_RESOURCES: URL, md5)"
)
FILES = (
    RemoteFile(
        "images.tar.gz", BASE_URL + "images.tar.gz", Checksum("md5", "5c4f3ee8e5d25df40f4fd59a7f44e54c"), _SOURCE
    ),
    RemoteFile(
        "annotations.tar.gz",
        BASE_URL + "annotations.tar.gz",
        Checksum("md5", "95a8c909bbe2e81eed6a22bccdf3f68f"),
        _SOURCE,
    ),
)


def read_layout(root: Path, seed: int, val_fraction: float) -> RawDataset:
    root = find_layout(root, ("images", "annotations/trainval.txt", "annotations/test.txt"), NAME)
    rows, names = [], {}
    for list_name, split in (("trainval.txt", "train"), ("test.txt", "test")):
        entries = []
        for row in read_table(root / "annotations" / list_name, 4):
            image, class_id = row[0], row[1]
            if not class_id.isdigit():
                raise DataError(f"{NAME}: {root / 'annotations' / list_name}: {image}: class id {class_id!r}")
            breed = image.rsplit("_", 1)[0]
            if names.setdefault(int(class_id), breed) != breed:
                raise DataError(f"{NAME}: class id {class_id} is both {names[int(class_id)]!r} and {breed!r}")
            entries.append((image, int(class_id)))
        splits = carve_val([c for _, c in entries], seed, val_fraction) if split == "train" else [split] * len(entries)
        for (image, class_id), name in zip(entries, splits, strict=True):
            xml = root / "annotations" / "xmls" / f"{image}.xml"
            rows.append(
                (
                    f"{image}.jpg",
                    name,
                    class_id,
                    root / "images" / f"{image}.jpg",
                    read_voc_box(xml) if xml.is_file() else None,
                )
            )
    return build_dataset(NAME, names, rows)


def read(cfg: DataCfg, raw_dir: Path) -> RawDataset:
    return read_layout(layout_root(cfg, raw_dir), cfg.split_seed, cfg.val_fraction)
