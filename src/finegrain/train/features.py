"""Cached frozen-backbone features: run the backbone once per split, then train only the head on its outputs.

A `mode: frozen` variant caches its backbone's features unless `features.cache` is `off` (`cache_plan`):
- validation features always: the frozen backbone is in eval mode at validation, so they equal running it every
  epoch, whatever the training augmentation;
- training features with `augment: none`: once, exactly the result of running the backbone every epoch;
- with another augmentation: `features.views` augmented views of each training image, and every epoch draws one per
  image (the log and the variant's metrics, `features.augmented_views`, say so);
- not with mix or adversarial training (pixel space; `on` rejects them) or several processes: the backbone then runs
  on the training images every epoch (validation still cached).
With `ema` the head's EMA is scored on the same cached features (the frozen backbone is its own average), and
progressive resizing does not apply to a cached head: its features are computed once at image_size_px (resizing
only saves backbone time, which the cache removes); the log says so.
Random layers outside the head (dropout, stochastic depth of a hub backbone) run in eval mode for cached features
(a warning says so): the standard frozen feature extractor, not the backbone's training-mode noise.

Files: data/features/<key>/<split>-<digest>.pt, the key hashing model, init weights, input data and transform
(written atomically, loaded with weights_only=True).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from finegrain import numerics
from finegrain.engine.loop import epoch_seed
from finegrain.models.factory import Classifier
from finegrain.models.head_block import HeadOnly, extract, head_block_name
from finegrain.torch_io import load_weights_only, save_state
from finegrain.train.checkpoint import run_key
from finegrain.train.config import TrainCfg

log = logging.getLogger(__name__)

CACHE_VERSION = 2
"""Bump when the stored format or the extraction changes: old caches are then ignored (2: val in val batches)."""


def stochastic_modules(model: Classifier, block_name: str) -> list[str]:
    """Modules outside the head block that are random in training (dropout, stochastic depth, timm drop_rate)."""
    found = []
    for name, module in model.net.named_modules():
        if name == block_name or name.startswith(block_name + "."):
            continue
        if isinstance(module, nn.modules.dropout._DropoutNd) or type(module).__name__ == "StochasticDepth":
            rate = module.p
        else:
            rates = [getattr(module, a, 0) for a in ("drop_prob", "drop_rate")]
            rate = max((r for r in rates if isinstance(r, (int, float))), default=0)
        if rate > 0:
            found.append(name or type(module).__name__)
    return found


def cache_plan(cfg: TrainCfg, model: Classifier) -> tuple[bool, bool]:
    """(train, val): whether this variant's head trains on cached training features and validates on cached
    validation features (see the module docstring); logs what it does and why."""
    if cfg.features.cache == "off" or cfg.mode != "frozen" or cfg.nproc > 1:
        return False, False
    pixel_space = [text for hit, text in ((cfg.mix.mode != "none", "mix"), (cfg.adv.method != "none", "adv")) if hit]
    if pixel_space:  # `on` rejects these at validation
        log.info("features: the frozen backbone runs on the training images every epoch (%s in pixel space); "
                 "validation features are cached", " and ".join(pixel_space))  # fmt: skip
        return False, True
    random_parts = stochastic_modules(model, head_block_name(model))
    if cfg.resize.from_px is not None:
        log.info("features: progressive resizing does not apply: the head trains on features cached at %d px",
                 cfg.image_size_px)  # fmt: skip
    if random_parts:
        log.warning("features: cached with %s in eval mode (no dropout outside the head)", ", ".join(random_parts))
    if cfg.augment != "none":
        views, recipe = cfg.features.views, cfg.augment
        log.info("features: cached %d augmented view(s) per training image (augment %r), one drawn per epoch; "
                 "features.cache: off runs the backbone every epoch instead", views, recipe)  # fmt: skip
    return True, True


@dataclass
class FeatureSplit:
    """Backbone features of one split: (views, n, d) float32, and the labels (n,)."""

    features: torch.Tensor
    labels: torch.Tensor
    augmented: bool = False

    def epoch_dataset(self, epoch_seed: int) -> TensorDataset:
        """One view per image: the only one, or a seeded random choice for this epoch."""
        views, n = self.features.shape[:2]
        if views == 1:
            return TensorDataset(self.features[0], self.labels)
        pick = torch.randint(views, (n,), generator=torch.Generator().manual_seed(epoch_seed))
        return TensorDataset(self.features[pick, torch.arange(n)], self.labels)


@dataclass
class CachedFeatures:
    """The head on cached features: training features (None: the backbone runs on them every epoch) and val."""

    head: HeadOnly
    train: FeatureSplit | None
    val: FeatureSplit

    @property
    def augmented_views(self) -> int:
        """Cached augmented views per training image (0: none, the training features are exact or not cached)."""
        return 0 if self.train is None or not self.train.augmented else self.train.features.shape[0]


def _ids_digest(dataset: Dataset) -> str:
    base = getattr(dataset, "base", dataset)
    index = getattr(base, "index", None)
    ids = "\n".join(map(str, index["id"])) if index is not None else str(len(dataset))
    return hashlib.sha256(ids.encode()).hexdigest()[:16]


def cache_dir(cfg: TrainCfg, inputs: list[Path], root: Path, arithmetic: str = "") -> Path:
    """<root>/<key>: one directory per backbone (model, weights, mods), input data and `arithmetic` (what decides
    the features' bits: layout, batches, numerics, threads)."""
    backbone = {k: getattr(cfg, k) for k in ("model", "init", "model_args", "mods", "image_size_px")}
    key = {**backbone, "version": CACHE_VERSION, "torch": torch.__version__, "arithmetic": arithmetic}
    return root / run_key(key, inputs)


def load_or_extract(
    model: Classifier,
    block: nn.Module,
    dataset: Dataset,
    path: Path,
    views: int,
    seed: int,
    device,
    batch_size: int,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> FeatureSplit:
    """The split's cached features, computed (`views` passes, view v seeded with seed + v) and saved on a miss."""
    if path.is_file():
        saved = load_weights_only(path, f"delete {path.parent} to recompute the features")
        return FeatureSplit(saved["features"], saved["labels"])
    t0 = time.perf_counter()
    passes = []
    for view in range(views):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + view)
            feats, labels = extract(model, block, dataset, device, batch_size, memory_format)
        passes.append(feats)
    split = FeatureSplit(torch.stack(passes), labels)
    save_state(path, {"features": split.features, "labels": split.labels})
    log.info("features: %s (%d x %s) in %.1fs", path, views, tuple(feats.shape), time.perf_counter() - t0)
    return split


def cached_features(
    model: Classifier,
    cfg: TrainCfg,
    train_set: Dataset | None,
    val_set: Dataset,
    seed: int,
    device: torch.device,
    inputs: list[Path],
    cache_root: Path,
    batch_size: int | None = None,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> CachedFeatures:
    """Train (unless `train_set` is None: not cached) and val features of `model`'s frozen backbone (train: its
    transform, `views` views when augmented), cached under `cache_root` (data/features).

    Training features in batches of `batch_size` (default: the training batch, so full batches compute the bits
    the training's batches would; on 1 CPU thread lite0 at 112 px ran 38-52 img/s in batches of 32 vs 27-28 in
    batches of 128), validation features in validation's (`cfg.val_batch_size`), both in the training's
    `memory_format`: the same bits as running the backbone every epoch.
    """
    batch_size = batch_size or cfg.batch_size
    model.to(device)
    head = HeadOnly(model)
    arithmetic = f"{memory_format} {batch_size}/{cfg.val_batch_size} {numerics.arithmetic()}"
    root = cache_dir(cfg, inputs, cache_root, arithmetic)
    train = None
    if train_set is not None:
        augmented = cfg.augment != "none"
        views = cfg.features.views if augmented else 1
        view_seed = epoch_seed(seed, 0) if augmented else 0  # view v: epoch_seed(seed, v), as epoch v of a fit
        train_name = f"train-{_ids_digest(train_set)}-{cfg.augment}-v{views}-s{view_seed}.pt"
        train = load_or_extract(
            model, head.block, train_set, root / train_name, views, view_seed, device, batch_size, memory_format
        )
        train.augmented = augmented
    val_name = f"val-{_ids_digest(val_set)}-eval.pt"
    val = load_or_extract(model, head.block, val_set, root / val_name, 1, 0, device, cfg.val_batch_size, memory_format)
    return CachedFeatures(head, train, val)
