"""The dataset registry: one entry per dataset, each with the sources it supports and a reader.

A reader turns a data config into a `RawDataset` (finegrain.data.records): class names plus one `Record` per image
with its split, label and box (or None). Readers accept an already-extracted layout on disk (`local`: data.root);
entries with `files` can also be downloaded from their official URLs or a mirror (`official`/`mirror`: the download
stage verifies and extracts them into data/raw/<dataset>/, see finegrain.data.source).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from finegrain.data.catalog import DATASET_SOURCES, WITH_BOXES
from finegrain.data.official import cinic10, cub200, flower_photos, flowers102, oxford_pets, stanford_dogs
from finegrain.data.records import RawDataset, Record
from finegrain.data.remote import RemoteFile

if TYPE_CHECKING:
    from finegrain.data.config import DataCfg


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    sources: tuple[str, ...]
    read: Callable[[DataCfg, Path], RawDataset]  # (data params, the download stage's raw dir)
    description: str = ""
    files: tuple[RemoteFile, ...] = ()
    """What `official`/`mirror` download: URLs and checksums, each citing where it comes from."""

    @property
    def has_boxes(self) -> bool:
        return self.name in WITH_BOXES


def _read_synthetic(cfg: DataCfg, raw_dir: Path) -> RawDataset:
    from finegrain.data.synthetic import SYNTHETIC_CLASSES, iter_synthetic

    per_split = {
        "train": cfg.synthetic.train_per_class,
        "val": cfg.synthetic.val_per_class,
        "test": cfg.synthetic.test_per_class,
    }
    records = []
    for split, per_class in per_split.items():
        for i, sample in enumerate(iter_synthetic(split, per_class, cfg.synthetic.size_px, seed=cfg.split_seed)):
            records.append(
                Record(
                    id=f"{split}/{i:06d}",
                    split=split,
                    label=sample.label,
                    array=sample.image,
                    box=tuple(float(v) for v in sample.box),
                )
            )
    return RawDataset("synthetic", list(SYNTHETIC_CLASSES), records)


def _read_folder(cfg: DataCfg, raw_dir: Path) -> RawDataset:
    from finegrain.data.folders import read_class_folders

    root = Path(cfg.root).expanduser()  # ~/photos, as the fingerprint and official layouts read it
    return read_class_folders(root, cfg.dataset, cfg.split_seed, cfg.val_fraction, cfg.test_fraction)


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "synthetic",
            DATASET_SOURCES["synthetic"],
            _read_synthetic,
            description="procedural shapes/textures with boxes, generated offline (default)",
        ),
        DatasetSpec(
            "flower_photos",
            DATASET_SOURCES["flower_photos"],
            flower_photos.read,
            files=flower_photos.FILES,
            description="tf_flowers: flower_photos/<class>/*.jpg, seeded stratified train/val/test",
        ),
        DatasetSpec(
            "imagefolder",
            DATASET_SOURCES["imagefolder"],
            _read_folder,
            description="any <root>/<class>/<image> tree, seeded stratified train/val/test",
        ),
        DatasetSpec(
            "flowers102",
            DATASET_SOURCES["flowers102"],
            flowers102.read,
            files=flowers102.FILES,
            description="Oxford Flowers-102: official trn/val/tst split (1020/1020/6149)",
        ),
        DatasetSpec(
            "cub200",
            DATASET_SOURCES["cub200"],
            cub200.read,
            files=cub200.FILES,
            description="CUB-200-2011: official train/test, seeded val from train, bird boxes",
        ),
        DatasetSpec(
            "stanford_dogs",
            DATASET_SOURCES["stanford_dogs"],
            stanford_dogs.read,
            files=stanford_dogs.FILES,
            description="Stanford Dogs: official train/test lists, seeded val from train, dog boxes",
        ),
        DatasetSpec(
            "cinic10",
            DATASET_SOURCES["cinic10"],
            cinic10.read,
            files=cinic10.FILES,
            description="CINIC-10: official train/valid/test class folders",
        ),
        DatasetSpec(
            "oxford_pets",
            DATASET_SOURCES["oxford_pets"],
            oxford_pets.read,
            files=oxford_pets.FILES,
            description="Oxford-IIIT Pet: official trainval/test, seeded val from trainval, head boxes "
            "(part of trainval; None elsewhere)",
        ),
    )
}


if DATASETS.keys() != DATASET_SOURCES.keys():  # one list of names: the catalog validates params, this reads
    raise RuntimeError(f"data.catalog and data.registry disagree: {sorted(DATASETS.keys() ^ DATASET_SOURCES.keys())}")


def get_dataset(cfg: DataCfg, raw_dir: Path) -> RawDataset:
    """Read the configured dataset's records (no decoding yet); downloaded datasets are read from `raw_dir`
    (the download stage's output, data/raw)."""
    return DATASETS[cfg.dataset].read(cfg, raw_dir)
