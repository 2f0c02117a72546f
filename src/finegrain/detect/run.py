"""The crop stage's detector work: train (or load) an mmdet detector, predict every split, evaluate vs GT."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from finegrain.atomic import atomic_dir, write_json
from finegrain.crop.config import CropCfg, DetectorCfg
from finegrain.crop.select import prefer_gt, select_boxes
from finegrain.data.catalog import SPLITS
from finegrain.data.shards import ShardSplit, open_split, read_meta
from finegrain.detect.checkpoint import load_detector, new_detector, save_detector
from finegrain.detect.data import BoxBatches
from finegrain.detect.infer import class_ids, top_boxes
from finegrain.detect.metrics import box_report
from finegrain.detect.mmdet_config import build_config
from finegrain.detect.train import TrainSchedule, train_detector
from finegrain.errors import ConfigError, DataError
from finegrain.runtime import resolve_device, seed_everything

log = logging.getLogger(__name__)


def holdout_split(positions: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train positions, held-out positions): a seeded `fraction` of `positions` held out."""
    order = np.random.default_rng(seed).permutation(positions)
    n_out = round(len(order) * fraction)
    return np.sort(order[n_out:]), np.sort(order[:n_out])


def fit_detector(det: DetectorCfg, train: ShardSplit, positions: np.ndarray, image_px: int, device: str, out_dir: Path):
    """Train a detector on the GT boxes of train[positions]; save it to out_dir; return (model, statistics)."""
    names = ["object"] if det.labels == "object" else list(train.class_names)
    labels = np.zeros(len(positions), int) if det.labels == "object" else train.labels[positions]
    cfg = build_config(det.config, names, image_px, det.cfg_options)
    seed_everything(det.seed)
    model = new_detector(cfg, names, device, init_from=det.checkpoint)
    batches = BoxBatches(train, positions, labels, det.batch_size, image_px, det.seed)
    sched = TrainSchedule(det.iters, det.max_time_s, det.lr, det.weight_decay, det.warmup_iters)
    stats = train_detector(model, batches, sched)
    stats.update(train_images=len(positions), params=sum(p.numel() for p in model.parameters()))
    save_detector(model, cfg, names, out_dir, {"image_px": image_px, **stats})
    log.info("detector trained: %s", stats)
    return model, stats


def detect_boxes(cfg: CropCfg, src: Path, out_dir: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Crop boxes per split from an mmdet detector, and the stage report (detector, evaluation, fallbacks).

    The detector is trained on the train split's GT boxes (minus a seeded holdout) and saved to out_dir, or loaded
    from crop.detector.config + checkpoint. Train-split crops use GT boxes when crop.train_boxes is `gt`.
    """
    det, device = cfg.detector, str(resolve_device(cfg.device, fixed_shapes=False))  # multi-scale configs
    meta = read_meta(src)
    index = pd.read_parquet(src / "index.parquet", columns=["split"])
    parts = {s: open_split(src, s) for s in SPLITS if (index["split"] == s).any()}
    image_px = det.image_px or int(meta["size_px"])
    held = np.array([], dtype=int)
    with atomic_dir(out_dir) as tmp:
        if det.train:
            boxed = np.flatnonzero(~np.isnan(parts["train"].boxes()).any(axis=1))
            if len(boxed) == 0:
                raise DataError(f"{src}: no train image has a box; crop.detector.train needs boxes (or train: false)")
            fit, held = holdout_split(boxed, det.holdout, det.seed)
            model, stats = fit_detector(det, parts["train"], fit, image_px, device, tmp)
            keep = None
        else:
            cfg_model = build_config(det.config, [], image_px, det.cfg_options, train=False)
            model, stats = load_detector(cfg_model, det.checkpoint, device), {"checkpoint": det.checkpoint}
            try:
                keep = class_ids(model, det.classes)
            except ValueError as err:
                raise ConfigError(f"params.yaml: crop.detector.classes: {err}") from None
        stats["device"] = str(next(model.parameters()).device)  # where it ran (the run record, not a quality)
        write_json(tmp / "detector.json", {"config": det.config, "trained": det.train, **stats})
    boxes, evaluation, fallbacks, seconds = {}, {}, {}, []
    for split, part in parts.items():
        gt = part.boxes()
        todo = np.arange(len(part))
        if split == "train" and cfg.train_boxes == "gt":
            todo = np.union1d(np.flatnonzero(np.isnan(gt).any(axis=1)), held)
        pred, scores = np.full((len(part), 4), np.nan), np.full(len(part), np.nan)
        if len(todo):
            pred[todo], scores[todo], spi = top_boxes(model, part.image, todo, cfg.batch_size, keep)
            seconds.append((spi, len(todo)))
        chosen, _ = select_boxes(pred, scores, cfg.score_thr, cfg.fallback)
        if split == "train" and cfg.train_boxes == "gt":
            chosen = prefer_gt(gt, chosen)
        boxes[split] = chosen
        fallbacks[split] = int(np.isnan(chosen).any(axis=1).sum())
        if split != "train":
            evaluation[split] = box_report(pred, gt, part.size_px, part.size_px, det.seed)
        if len(held) and split == "train":
            evaluation["holdout"] = box_report(pred[held], gt[held], part.size_px, part.size_px, det.seed)
    n_pred = sum(n for _, n in seconds)
    stats["infer_ms_per_img"] = round(1000 * sum(s * n for s, n in seconds) / max(n_pred, 1), 2)
    for name, rep in evaluation.items():
        if rep["images"]:
            log.info("detector on %s: mean IoU %.3f (random boxes %.3f)", name, rep["mean_iou"], rep["random_box_iou"])
    if any(fallbacks.values()):
        log.warning("full-image fallback (no box scoring >= %.2f): %s", cfg.score_thr, fallbacks)
    return boxes, {"detector": stats, "detector_eval": evaluation, "fallback": fallbacks}
