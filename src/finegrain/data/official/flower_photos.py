"""tf_flowers: flower_photos.tgz, extracted as flower_photos/<class>/*.jpg (+ LICENSE.txt).

No official split: a seeded, stratified train/val/test split by data.val_fraction / data.test_fraction.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from finegrain.data.official.common import layout_root
from finegrain.data.remote import Checksum, RemoteFile

if TYPE_CHECKING:
    from finegrain.data.config import DataCfg
    from finegrain.data.records import RawDataset

NAME = "flower_photos"
FILES = (
    RemoteFile(
        "flower_photos.tgz",
        "http://download.tensorflow.org/example_images/flower_photos.tgz",
        Checksum("sha256", "4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c"),
        "tensorflow/datasets tensorflow_datasets/url_checksums/tf_flowers.txt @ "
        "333639b37af6c6fedf3610a4a2d42f1c6ef6f7d5 (URL, size, sha256)",
        size=228_813_984,
    ),
)


def class_folder_root(root: Path) -> Path:
    """The folder holding the class folders: `root` itself or its flower_photos/ (the archive's top folder)."""
    return root / "flower_photos" if (root / "flower_photos").is_dir() else root


def read(cfg: DataCfg, raw_dir: Path) -> RawDataset:
    from finegrain.data.folders import read_class_folders

    return read_class_folders(
        class_folder_root(layout_root(cfg, raw_dir)), NAME, cfg.split_seed, cfg.val_fraction, cfg.test_fraction
    )
