"""Readers for class-per-folder layouts (flower_photos, any ImageFolder tree) with seeded stratified splits.

The tree is walked by `TreeWalker` (hidden entries such as `.ipynb_checkpoints/` are never images or classes;
symlinks that loop back into the tree are not followed). Byte-identical files are kept in one split (every copy in
its original's), so a copy never leaks from train into test. Each class gets at least one image in every split with
a non-zero fraction; a class too small for that stops the stage with its name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from finegrain.data.records import RawDataset, Record
from finegrain.data.tree import TreeWalker, identical_files
from finegrain.errors import DataError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
SPLIT_FOLDER_NAMES = frozenset({"train", "training", "val", "valid", "validation", "test", "testing", "eval"})


@dataclass
class ClassFolders:
    """What a class-per-folder tree holds: class name -> sorted image files, and image files that cannot be read."""

    classes: dict[str, list[Path]]
    skipped: list[dict] = field(default_factory=list)
    """{"id", "path", "reason"} of image-named files known to be unusable before decoding (broken symlinks)."""


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def as_text(name: str) -> str:
    """A file or folder name as valid UTF-8 text for ids, class names and the index: bytes that are not UTF-8 (e.g. a
    Latin-1 name from an old zip, which Python holds as surrogates) are written as \\xNN; other names are unchanged."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def scan_class_folders(root: Path) -> ClassFolders:
    """Map class name -> sorted image files; ignores (and reports) non-image files and folders without images."""
    if not root.is_dir():
        raise DataError(f"data.root: {root} is not a directory (expected <root>/<class>/<image> folders)")
    walker = TreeWalker(root)
    classes: dict[str, list[Path]] = {}
    loose = []
    for folder, is_dir in walker.entries(root):
        if not is_dir:
            if _is_image(folder):
                loose.append(folder)
            continue
        files, others = [], []
        for path in walker.files(folder):
            (files if _is_image(path) else others).append(path)
        if others:
            log.warning(
                "data.root: folder %r: ignored %d non-image file(s), e.g. %s",
                folder.name,
                len(others),
                walker.relative(others[0]),
            )
        if files:
            classes[folder.name] = files
        elif not any(_is_image(link) for link, _ in walker.broken if folder in link.parents):
            log.warning("data.root: folder %r has no images; it is not a class", folder.name)
    for link, target in walker.looped:
        log.warning(
            "data.root: did not follow symlink %s -> %s: it leads back into data.root (a loop or a second copy)",
            walker.relative(link),
            target,
        )
    skipped = []
    for link, target in walker.broken:
        if _is_image(link) and link.parent != root:
            reason = f"broken symlink (its target {target} does not exist)"
            skipped.append(
                {"id": as_text(walker.relative(link)), "path": as_text(str(link)), "reason": as_text(reason)}
            )
        else:
            log.warning("data.root: ignored broken symlink %s -> %s", walker.relative(link), target)
    _check_level(root, classes, loose)
    if loose:
        log.warning(
            "data.root: ignored %d image(s) directly in data.root, outside any class folder, e.g. %s",
            len(loose),
            loose[0].name,
        )
    if len(classes) < 2:
        raise DataError(f"data.root: {root} has {len(classes)} class folder(s) with images; expected at least 2")
    return ClassFolders(classes, skipped)


def list_class_folders(root: Path) -> dict[str, list[Path]]:
    """Class name -> sorted image files of a class-per-folder tree (see scan_class_folders)."""
    return scan_class_folders(root).classes


def _check_level(root: Path, classes: dict[str, list[Path]], loose: list[Path]) -> None:
    """A root one level too high (<root>/train/<class>/...) or too low (<root>/<images>) is one clear error."""
    if not classes and loose:
        raise DataError(
            f"data.root: {root} holds {len(loose)} image(s) but no class folders; set data.root to the folder "
            f"above it, {root.parent}, if its sub-folders are the classes"
        )
    subfolders = {name: {p.relative_to(root / name).parts[0] for p in files} for name, files in classes.items()}
    if not classes or any(len(p.relative_to(root / name).parts) == 1 for name, files in classes.items() for p in files):
        return  # some folder holds images itself: it is a class
    names = list(subfolders)
    repeated = any(subfolders[a] & subfolders[b] for i, a in enumerate(names) for b in names[i + 1 :])
    if len(names) == 1 or repeated or set(names) <= SPLIT_FOLDER_NAMES:
        biggest = max(names, key=lambda n: (n in ("train", "training"), len(classes[n])))  # train, else the largest
        example = classes[biggest][0].relative_to(root).as_posix()
        raise DataError(
            f"data.root: {root} looks one level too high: {', '.join(map(repr, names))} hold class folders, not "
            f"images (e.g. {example}); set data.root to one of them, e.g. {root / biggest}"
        )


def stratified_split(n: int, rng: np.random.Generator, val_fraction: float, test_fraction: float) -> list[str]:
    """Split names for n items of one class: a seeded shuffle, then test, val, train portions (>= 1 train)."""
    order = rng.permutation(n)
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * val_fraction))
    if n - n_test - n_val < 1:
        n_test, n_val = max(0, min(n_test, n - 1)), 0
    names = ["train"] * n
    for rank, idx in enumerate(order):
        names[idx] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return names


def split_class(
    unit_of_file: list[Hashable | None], rng: np.random.Generator, val_fraction: float, test_fraction: float
) -> dict[Hashable, str]:
    """Split name per unit (distinct image) of one class: a seeded shuffle, then test, val, train portions.

    `unit_of_file[i]` is the unit of the class's i-th file (None: it follows another class's split). The shuffle is
    drawn over the files, so without copies this is exactly the per-file split of earlier versions (and a class's
    copies never shift another class's split). Every split with a non-zero fraction gets at least one unit and train
    keeps one (the caller checks the class has `len(needed(...))` units).
    """
    order = rng.permutation(len(unit_of_file))
    ranked = list(dict.fromkeys(unit_of_file[i] for i in order if unit_of_file[i] is not None))
    n = len(ranked)
    n_test = max(int(round(n * test_fraction)), 1) if test_fraction > 0 else 0
    n_val = max(int(round(n * val_fraction)), 1) if val_fraction > 0 else 0
    while n - n_test - n_val < 1:  # rounding up took every unit: give back from the larger held-out split
        if n_test >= n_val and n_test > 1:
            n_test -= 1
        else:
            n_val -= 1
    return {u: "test" if r < n_test else "val" if r < n_test + n_val else "train" for r, u in enumerate(ranked)}


def needed(val_fraction: float, test_fraction: float) -> list[str]:
    """The splits every class must have an image in: train, and val / test when their fraction is not 0."""
    return ["train"] + [s for s, f in (("val", val_fraction), ("test", test_fraction)) if f > 0]


def read_class_folders(root: Path, name: str, seed: int, val_fraction: float, test_fraction: float) -> RawDataset:
    """Records for <root>/<class>/<image>, split per class with a seeded shuffle; copies stay with their original.

    A class with fewer distinct images than splits to fill is a DataError naming every such class.
    """
    scan = scan_class_folders(root)
    copies = identical_files([p for files in scan.classes.values() for p in files])
    class_of = {p: c for c, files in scan.classes.items() for p in files}
    units = {  # class -> the original (unit) of each of its files; None: a copy of another class's image
        c: [copies.get(p, p) if class_of[copies.get(p, p)] == c else None for p in files]
        for c, files in scan.classes.items()
    }
    splits = needed(val_fraction, test_fraction)
    small = [(c, n) for c, u in units.items() if (n := len(set(u) - {None})) < len(splits)]
    if small:
        listed = ", ".join(f"{c!r} ({n})" for c, n in small[:5]) + (", ..." if len(small) > 5 else "")
        raise DataError(
            f"data.root: {len(small)} class(es) have fewer distinct images than the {len(splits)} splits to fill "
            f"({', '.join(splits)}; data.val_fraction {val_fraction}, data.test_fraction {test_fraction}): {listed}; "
            "add images, or move these folders out of data.root"
        )
    rng = np.random.default_rng(seed)
    split_of: dict[Path, str] = {}
    for unit_of_file in units.values():
        split_of.update(split_class(unit_of_file, rng, val_fraction, test_fraction))
    records = [
        Record(
            id=as_text(f"{class_name}/{path.relative_to(root / class_name).as_posix()}"),
            split=split_of[copies.get(path, path)],
            label=label,
            path=path,
        )
        for label, (class_name, files) in enumerate(scan.classes.items())
        for path in files
    ]
    _report_copies(root, copies, class_of)
    return RawDataset(name, [as_text(c) for c in scan.classes], records, skipped=scan.skipped)


def _report_copies(root: Path, copies: dict[Path, Path], class_of: dict[Path, str]) -> None:
    if not copies:
        return
    copy = min(copies)
    original = copies[copy]
    log.warning(
        "data.root: %d image(s) are byte-identical copies of another (e.g. %s = %s); each copy is kept in its "
        "original's split, so none leaks between train, val and test",
        len(copies),
        copy.relative_to(root).as_posix(),
        original.relative_to(root).as_posix(),
    )
    across = sorted((c, o) for c, o in copies.items() if class_of[c] != class_of[o])
    if across:
        copy, original = across[0]
        log.warning(
            "data.root: %d image(s) are copies of an image in another class (e.g. %s = %s): one image, two labels",
            len(across),
            copy.relative_to(root).as_posix(),
            original.relative_to(root).as_posix(),
        )
