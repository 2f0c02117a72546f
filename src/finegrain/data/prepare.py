"""The prepare stage's work: decode every image once into square uint8 shards plus an index."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from finegrain.atomic import atomic_dir, write_json
from finegrain.data.catalog import SPLITS
from finegrain.data.images import BadImage, open_rgb, square_resize
from finegrain.data.records import RawDataset, Record
from finegrain.data.shards import ShardWriter, box_columns, write_dataset
from finegrain.engine.progress import progress
from finegrain.errors import DataError

log = logging.getLogger(__name__)


def decode_record(record: Record, size_px: int) -> tuple[np.ndarray, tuple | None, tuple[int, int]]:
    """(size x size x 3 uint8 image, box in stored coords or None, original (w, h)); raises BadImage."""
    if record.array is not None:
        img = Image.fromarray(record.array).convert("RGB")
        full_size = img.size
    else:
        img, full_size = open_rgb(record.path, target_short_px=size_px)
    arr, box = square_resize(img, size_px, record.box, full_size)
    return arr, box, full_size


def _decode_worker(args: tuple[Record, int]) -> tuple[str, np.ndarray | None, tuple | None, tuple[int, int], str]:
    record, size_px = args
    try:
        arr, box, orig = decode_record(record, size_px)
        return record.id, arr, box, orig, ""
    except BadImage as err:
        return record.id, None, None, (0, 0), str(err)


def prepare_dataset(
    raw: RawDataset, out_dir: Path, size_px: int, max_bad_fraction: float, shard_images: int = 4096, workers: int = 0
) -> dict:
    """Decode `raw` into `out_dir` atomically; returns the stage report (counts, skipped files).

    Unreadable images are skipped and listed; the stage fails when their fraction exceeds max_bad_fraction.
    """
    if not raw.records:
        raise DataError(f"dataset {raw.name!r}: no images found")
    for split, count in raw.split_counts().items():
        if split in ("train", "test") and count == 0:  # before decoding anything (val may be empty)
            raise DataError(
                f"dataset {raw.name!r}: split {split!r} would be empty (counts: {raw.split_counts()}); folder "
                f"datasets take it from data.{split}_fraction > 0"
            )
    workers = workers or os.cpu_count() or 1
    jobs = [(r, size_px) for r in raw.records]
    skipped: list[dict] = list(raw.skipped)
    total = len(jobs) + len(raw.skipped)
    with atomic_dir(out_dir) as tmp:
        writers = {s: ShardWriter(tmp, s, size_px, shard_images) for s in SPLITS}
        by_id = {r.id: r for r in raw.records}
        if workers > 1 and len(jobs) > 64 and raw.records[0].path is not None:
            with ProcessPoolExecutor(workers) as pool:
                results = pool.map(_decode_worker, jobs, chunksize=32)
                _collect(results, by_id, raw, writers, skipped, len(jobs))
        else:
            _collect(map(_decode_worker, jobs), by_id, raw, writers, skipped, len(jobs))
        for w in writers.values():
            w.flush()
        bad_fraction = len(skipped) / total
        if bad_fraction > max_bad_fraction:
            first = skipped[0]
            raise DataError(
                f"{len(skipped)} of {total} images unreadable ({bad_fraction:.1%} > prepare.max_bad_fraction "
                f"{max_bad_fraction:.1%}); first: {first['id']}: {first['reason']}"
            )
        rows = [row for w in writers.values() for row in w.rows]
        counts = {s: len(w.rows) for s, w in writers.items()}
        for split in ("train", "test"):
            if counts[split] == 0:
                raise DataError(f"dataset {raw.name!r}: split {split!r} has no images after decoding")
        source_px = source_short_side(rows, size_px)
        meta = {
            "dataset": raw.name,
            "class_names": raw.class_names,
            "size_px": size_px,
            "source_short_side_px": source_px,  # the images' own resolution: finegrain.data.resolution
        }
        write_dataset(tmp, rows, meta)
        _check_classes(raw, writers, skipped)
        report = {
            "images": total - len(skipped),
            "skipped": len(skipped),
            "counts": counts,
            "classes": len(raw.class_names),
        }
        write_json(tmp / "skipped.json", skipped)
    if source_px < size_px:  # said, not warned: only a variant trained above source_px computes on upsampled pixels
        log.info(
            "prepare.size_px (%d) is above the median short side of the images (%d px): %s stores them upsampled "
            "%.3gx per side; a variant whose image_size_px is above %d trains on upsampled pixels (it warns)",
            size_px,
            source_px,
            out_dir,
            size_px / source_px,
            source_px,
        )
    for item in skipped[:20]:
        log.warning("skipped %s: %s", item["id"], item["reason"])
    if skipped:
        log.warning("skipped %d unreadable image(s); the list is in %s", len(skipped), out_dir / "skipped.json")
    return report


def source_short_side(rows: list[dict], size_px: int) -> int:
    """The median short side of the original images (`orig_w`, `orig_h` of each row; `size_px` when none)."""
    sides = [min(row["orig_w"], row["orig_h"]) for row in rows if row["orig_w"] and row["orig_h"]]
    return int(np.median(sides)) if sides else size_px


def _collect(results, by_id, raw, writers, skipped, total) -> None:
    for rid, arr, box, orig, reason in progress(results, "prepare", total=total, unit="img"):
        record = by_id[rid]
        if arr is None:
            skipped.append({"id": rid, "path": str(record.path) if record.path else None, "reason": reason})
            continue
        writers[record.split].add(
            arr,
            {
                "id": rid,
                "label": record.label,
                "class_name": raw.class_names[record.label],
                "orig_w": orig[0],
                "orig_h": orig[1],
                "generated": False,
                **box_columns(box),
            },
        )


def _check_classes(raw: RawDataset, writers: dict[str, ShardWriter], skipped: list[dict]) -> None:
    """A class left without images in a non-empty split (its files there were all skipped, or an official split has
    none): in train it is an error (no model can learn it), in val/test a warning (its per-class scores are NaN)."""
    for split, writer in writers.items():
        present = {row["label"] for row in writer.rows}
        missing = [label for label in range(len(raw.class_names)) if label not in present]
        if not (writer.rows and missing):
            continue
        name = raw.class_names[missing[0]]
        if split == "train":
            split_of = {r.id: (r.split, r.label) for r in raw.records}
            lost = [s for s in skipped if split_of.get(s["id"]) == ("train", missing[0])]
            example = f" (skipped: {lost[0]['id']}: {lost[0]['reason']})" if lost else ""
            raise DataError(
                f"dataset {raw.name!r}: class {name!r} has no readable train image{example}; fix or remove its "
                f"files ({len(missing)} class(es) in all)"
            )
        log.warning("dataset %r: %d class(es) have no %s images, e.g. %r", raw.name, len(missing), split, name)
