"""Where a variant's training images are augmented (`train.augment_on`): per sample in the loader on the CPU, or
batched on the training device (`augment.batched`)."""

from __future__ import annotations

import logging

import torch
from torch.utils.data import Dataset

from finegrain.augment.batched import BATCHED, BatchAugment, as_uint8
from finegrain.augment.mix import create_mix
from finegrain.data.transformed import Transformed
from finegrain.errors import ConfigError
from finegrain.train.config import TrainCfg

log = logging.getLogger(__name__)


def _cpu_reason(cfg: TrainCfg, device: torch.device, train_set: Dataset, cached_train: bool) -> str | None:
    """Why the per-sample CPU path runs, or None for the device path."""
    if cfg.augment_on == "cpu":
        return "train.augment_on: cpu"
    forced = cfg.augment_on == "device"
    if cached_train:
        if forced:
            raise ConfigError(
                "train.augment_on: 'device' does not apply to cached training features (mode frozen, "
                "train.features.cache), augmented once when cached; set augment_on: auto or cpu, or features.cache: off"
            )
        return "the training features are cached"
    if cfg.augment not in BATCHED:  # augment_on: device was rejected when the params were validated
        return f"recipe {cfg.augment!r} is per-sample only"
    if not isinstance(train_set, Transformed):
        if forced:
            raise ConfigError("train.augment_on: 'device' needs a dataset of uint8 images (data.transformed)")
        return "the training set is not a dataset of uint8 images"
    if not forced and device.type != "cuda":
        return f"train.augment_on: auto on {device.type}"
    return None


def augment_path(
    cfg: TrainCfg, device: torch.device, train_set: Dataset, cached_train: bool, num_classes: int
) -> tuple[BatchAugment | None, Dataset]:
    """(the device path's augmentation, the uint8 dataset its loader reads), or (None, `train_set`) for the CPU path
    (its transform and any CutMix/MixUp collate unchanged). Logs the choice."""
    reason = _cpu_reason(cfg, device, train_set, cached_train)
    if reason is not None:
        log.info("augmentation %s: per sample on the CPU (%s)", cfg.augment, reason)
        return None, train_set
    mix = None
    if cfg.mix.mode != "none":
        mix = create_mix(num_classes, cfg.mix.cutmix_alpha, cfg.mix.mixup_alpha, cfg.mix.mode)
    log.info(
        "augmentation %s%s: batched on %s (train.augment_on: %s)",
        cfg.augment,
        f" + {cfg.mix.mode}" if mix is not None else "",
        device,
        cfg.augment_on,
    )
    return BatchAugment(cfg.augment, cfg.image_size_px, mix), Transformed(train_set.base, as_uint8)
