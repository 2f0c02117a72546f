"""CINIC-10 (Darlow et al. 2018): CINIC-10.tar.gz with train/, valid/, test/ each holding the 10 class folders.

The official three-way split is used as is (valid -> val); the classes are train/'s folders.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from finegrain.data.official.common import build_dataset, find_layout, layout_root
from finegrain.data.remote import Checksum, RemoteFile
from finegrain.errors import DataError

if TYPE_CHECKING:
    from finegrain.data.config import DataCfg
    from finegrain.data.records import RawDataset

NAME = "cinic10"
FILES = (
    RemoteFile(
        "CINIC-10.tar.gz",
        "https://datashare.is.ed.ac.uk/bitstream/handle/10283/3192/CINIC-10.tar.gz",
        Checksum("md5", "6ee4d0c996905fe93221de577967a372"),
        "URL: BayesWatch/cinic-10 README.md @ 0fec70ce55bbece9bbf1e106d9b299be9ef8b22f (Download); md5: "
        "devinkwok/open_lth datasets/cinic10.py @ a3f70be6e4fb561c2d90a0056a1becde03ee0011 (tgz_md5; the "
        "same md5 is in several other public CINIC-10 loaders)",
    ),
)
SPLIT_DIRS = {"train": "train", "valid": "val", "test": "test"}


def read_layout(root: Path) -> RawDataset:
    from finegrain.data.folders import scan_class_folders

    root = find_layout(root, tuple(SPLIT_DIRS), NAME)
    scans = {folder: scan_class_folders(root / folder) for folder in SPLIT_DIRS}
    per_split = {folder: scan.classes for folder, scan in scans.items()}
    class_names = list(per_split["train"])
    class_id = {name: i for i, name in enumerate(class_names)}
    rows = []
    for folder, split in SPLIT_DIRS.items():
        for class_name, files in per_split[folder].items():
            if class_name not in class_id:
                raise DataError(f"{NAME}: {root / folder / class_name}: a class that train/ does not have")
            for path in files:
                rows.append((path.relative_to(root).as_posix(), split, class_id[class_name], path, None))
    skipped = [{**item, "id": f"{folder}/{item['id']}"} for folder, scan in scans.items() for item in scan.skipped]
    return replace(build_dataset(NAME, dict(enumerate(class_names)), rows), skipped=skipped)


def read(cfg: DataCfg, raw_dir: Path) -> RawDataset:
    return read_layout(layout_root(cfg, raw_dir))
