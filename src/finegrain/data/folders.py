"""Readers for class-per-folder layouts (flower_photos, any ImageFolder tree) with seeded stratified splits.

The tree is walked by `TreeWalker` (hidden entries such as `.ipynb_checkpoints/` are never images or classes;
symlinks that loop back into the tree are not followed). Byte-identical files are kept in one split (every copy in
its original's), so a copy never leaks from train into test. Each class gets at least one image in every split with
a non-zero fraction; a class too small for that stops the stage with its name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from finegrain.data.registry import RawDataset, Record
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
            skipped.append({"id": walker.relative(link), "path": str(link), "reason": reason})
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
    n: int, rng: np.random.Generator, val_fraction: float, test_fraction: float, class_name: str, what: str = "image(s)"
) -> list[str]:
    """Split names for the n items of class `class_name`: a seeded shuffle, then test, val, train portions.

    Every split with a non-zero fraction gets at least one item and train keeps at least one; a class with too few
    items for that is a DataError naming it. (Equal to `stratified_split` whenever rounding leaves every split one.)
    """
    wanted = ["train"] + [s for s, f in (("val", val_fraction), ("test", test_fraction)) if f > 0]
    if n < len(wanted):
        raise DataError(
            f"data.root: class {class_name!r} has {n} {what}; a seeded split needs at least {len(wanted)}, one for "
            f"each of {', '.join(wanted)} (data.val_fraction {val_fraction}, data.test_fraction {test_fraction}); "
            "add images, or move the folder out of data.root"
        )
    order = rng.permutation(n)
    n_test = max(int(round(n * test_fraction)), 1) if test_fraction > 0 else 0
    n_val = max(int(round(n * val_fraction)), 1) if val_fraction > 0 else 0
    while n - n_test - n_val < 1:  # rounding up took every item: give back from the larger held-out split
        if n_test >= n_val and n_test > 1:
            n_test -= 1
        else:
            n_val -= 1
    names = ["train"] * n
    for rank, idx in enumerate(order):
        names[idx] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return names


def read_class_folders(root: Path, name: str, seed: int, val_fraction: float, test_fraction: float) -> RawDataset:
    """Records for <root>/<class>/<image>, split per class with a seeded shuffle; copies stay with their original."""
    scan = scan_class_folders(root)
    copies = identical_files([p for files in scan.classes.values() for p in files])
    class_of = {p: c for c, files in scan.classes.items() for p in files}
    rng = np.random.default_rng(seed)
    split_of: dict[Path, str] = {}
    records = []
    for label, (class_name, files) in enumerate(scan.classes.items()):
        units: dict[Path, list[Path]] = {}  # original -> this class's files with its bytes
        for path in files:
            original = copies.get(path, path)
            if original not in split_of:  # copies of another class's image follow its split
                units.setdefault(original, []).append(path)
        what = "distinct image(s)" if any(p in copies for p in files) else "image(s)"
        splits = split_class(len(units), rng, val_fraction, test_fraction, class_name, what)
        for (original, _), split in zip(units.items(), splits, strict=True):
            split_of[original] = split
        for path in files:
            records.append(
                Record(
                    id=f"{class_name}/{path.relative_to(root / class_name).as_posix()}",
                    split=split_of[copies.get(path, path)],
                    label=label,
                    path=path,
                )
            )
    _report_copies(root, copies, class_of)
    return RawDataset(name, list(scan.classes), records, skipped=scan.skipped)


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
