"""Helpers the official readers share: where the layout is, seeded val splits, VOC boxes, MATLAB string lists."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from finegrain.errors import DataError

if TYPE_CHECKING:
    from finegrain.data.config import DataCfg
    from finegrain.data.records import Box, RawDataset


def layout_root(cfg: DataCfg, raw_dir: Path) -> Path:
    """Where the extracted official layout is: data.root for `local`, <raw_dir>/<dataset> (the download stage's
    output) for official/mirror."""
    if cfg.source == "local":
        return Path(cfg.root).expanduser()
    return raw_dir / cfg.dataset


def find_layout(root: Path, markers: Iterable[str], dataset: str) -> Path:
    """`root`, or its one sub-directory, that holds every marker path (the dataset's top folder)."""
    markers = tuple(markers)

    def holds(folder: Path) -> bool:
        return all((folder / m).exists() for m in markers)

    if holds(root):
        return root
    if root.is_dir():
        found = [d for d in sorted(root.iterdir()) if d.is_dir() and holds(d)]
        if len(found) == 1:
            return found[0]
    raise DataError(
        f"{dataset}: {root} does not hold the official layout (expected {', '.join(markers)} in it or in "
        "one sub-directory); for source official/mirror run the download stage, for local point "
        "data.root at the extracted files"
    )


def carve_val(labels: list[int], seed: int, val_fraction: float) -> list[str]:
    """'train'/'val' per item: a seeded, per-class (stratified) share of val_fraction moved to val."""
    from finegrain.data.folders import stratified_split

    rng = np.random.default_rng(seed)
    by_label: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    splits = ["train"] * len(labels)
    for label in sorted(by_label):
        items = by_label[label]
        for i, split in zip(items, stratified_split(len(items), rng, val_fraction, 0.0), strict=True):
            splits[i] = split
    return splits


def read_voc_box(path: Path) -> Box | None:
    """The box around every object of a Pascal VOC annotation (x0, y0, x1, y1 pixels), None when it has none."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as err:
        raise DataError(f"{path}: not a readable VOC annotation ({err})") from None
    boxes = []
    for bndbox in root.iter("bndbox"):
        try:
            boxes.append([float(bndbox.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")])
        except (TypeError, ValueError):
            raise DataError(f"{path}: a bndbox lacks a numeric xmin/ymin/xmax/ymax") from None
    if not boxes:
        return None
    arr = np.asarray(boxes)
    return float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max())


def mat_strings(value) -> list[str]:
    """Flatten a MATLAB cell array of strings (as scipy.io.loadmat returns it) to a list of str."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, bytes):
        return [value.decode()]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "US":
            return [str(v) for v in value.ravel()]
        return [s for item in value.ravel() for s in mat_strings(item)]
    raise DataError(f"expected a MATLAB cell array of strings, got {type(value).__name__}")


def load_mat(path: Path, keys: Iterable[str]) -> dict:
    """The named variables of a .mat file; a clear error when the file or a variable is missing."""
    from scipy.io import loadmat

    if not path.is_file():
        raise DataError(f"{path}: missing (part of the official layout)")
    try:
        mat = loadmat(path, squeeze_me=True)
    except MemoryError:
        raise
    except Exception as err:  # a corrupt file raises anything from ValueError to IndexError inside scipy
        detail = " ".join(f"{type(err).__name__}: {err}".split())
        raise DataError(f"{path}: not a readable .mat file ({detail})") from None
    missing = [k for k in keys if k not in mat]
    if missing:
        raise DataError(f"{path}: missing variable(s) {', '.join(missing)}")
    return mat


def read_table(path: Path, columns: int) -> list[list[str]]:
    """Whitespace-separated rows of a text list (the last column keeps any spaces); '#' lines are comments."""
    if not path.is_file():
        raise DataError(f"{path}: missing (part of the official layout)")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        row = line.split(maxsplit=columns - 1)
        if len(row) != columns:
            raise DataError(f"{path}: line {number}: expected {columns} columns (got {line.strip()[:80]!r})")
        rows.append(row)
    return rows


def build_dataset(name: str, class_names_by_id: dict[int, str], rows: list[tuple]) -> RawDataset:
    """RawDataset from (id, split, class id, path, box) rows; labels are 0..K-1 over the class ids that occur."""
    from finegrain.data.records import RawDataset, Record

    if not rows:
        raise DataError(f"{name}: the official lists name no images")
    ids = sorted({r[2] for r in rows})
    unknown = [i for i in ids if i not in class_names_by_id]
    if unknown:
        raise DataError(f"{name}: class id {unknown[0]} has no class name")
    label_of = {class_id: label for label, class_id in enumerate(ids)}
    records = [
        Record(id=rid, split=split, label=label_of[cid], path=path, box=box) for rid, split, cid, path, box in rows
    ]
    return RawDataset(name, [class_names_by_id[i] for i in ids], records)
