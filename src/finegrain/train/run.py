"""Train one variant for each of its seeds: data, model, dvclive logging, resume state and final artifacts."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from finegrain import numerics
from finegrain.augment.recipes import create_transforms
from finegrain.checks import read_checks
from finegrain.data.resolution import variant_upsampling
from finegrain.data.shards import open_split, stratified_subset
from finegrain.data.transformed import Transformed
from finegrain.engine.live import log_metrics, open_live
from finegrain.errors import ConfigError, Interrupted
from finegrain.models.factory import count_parameters, create_model, seed_weights_dir
from finegrain.models.trained import save_seed, save_variant, seed_dir
from finegrain.params import Params
from finegrain.runtime import configure_threads, resolve_device, seed_everything
from finegrain.train import distributed
from finegrain.train.checkpoint import load_state, run_key
from finegrain.train.compute import Compute
from finegrain.train.config import TrainCfg
from finegrain.train.features import cache_plan, cached_features
from finegrain.train.loop import Diverged, fit

log = logging.getLogger(__name__)


def load_train_val(cfg: TrainCfg, data_dir: Path, seed: int, key: str = "train_images"):
    """(train, val) datasets with the variant's transforms; train optionally a few-shot subset (`key` names
    train_images in messages: fewer than one per class is an error, more than the split has a warning)."""
    train = open_split(data_dir, "train")
    if cfg.train_images is not None:
        classes = len(set(train.labels.tolist()))
        if cfg.train_images < classes:
            raise ConfigError(
                f"params.yaml: {key}: {cfg.train_images} images cannot cover the {classes} classes of the training "
                f"split; use at least {classes} (one per class)"
            )
        if cfg.train_images >= len(train):
            log.warning("%s: %d >= the %d training images: all are used", key, cfg.train_images, len(train))
        train = train.subset(stratified_subset(train.labels, cfg.train_images, seed))
    val = open_split(data_dir, "val")
    return (
        Transformed(train, create_transforms(cfg.augment, cfg.image_size_px, train=True)),
        Transformed(val, create_transforms(cfg.augment, cfg.image_size_px, train=False)),
        train.class_names,
    )


@dataclass(frozen=True)
class TrainPaths:
    """Where train@<variant> reads and writes: its data input and init weights (read), its models and dvclive
    logs (outputs), its resume states and the cached backbone features (work directories, not DVC outputs)."""

    data: Path
    weights: Path
    models: Path
    live: Path
    ckpt: Path
    features: Path


def train_variant(params: Params, name: str, where: TrainPaths) -> dict:
    """Train every seed of variant `name` into `where.models` and `where.live`. Returns the summary.

    Under torchrun (`nproc` > 1) every process trains; rank 0 alone logs and writes.
    """
    cfg = params.variant(name)
    configure_threads(params.base.threads, params.base.numerics)
    dist, device = distributed.init(resolve_device(params.base.device))
    try:
        return _train_seeds(params, name, cfg, dist, device, where)
    finally:
        distributed.shutdown(dist)


def _train_seeds(
    params: Params, name: str, cfg: TrainCfg, dist: distributed.Dist, device: torch.device, where: TrainPaths
) -> dict:
    data_dir, weights_dir, out_dir, live_dir = where.data, where.weights, where.models, where.live
    weights = [seed_weights_dir(cfg.init, weights_dir, s) / "weights.pt" for s in cfg.seeds]
    inputs = [data_dir / "index.parquet", data_dir / "meta.json", *dict.fromkeys(weights)]
    numerics_key = numerics.arithmetic()  # a resume keeps the bits
    ckpt_dir = where.ckpt / run_key(
        {"variant": cfg.model_dump(), "base_seed": params.base.seed, "numerics": numerics_key}, inputs
    )
    stale = [d.name for d in where.ckpt.glob("*") if d != ckpt_dir]
    if stale and dist.main:
        log.warning(
            "%s: ignoring %d resume state(s) of other params, data or code; training starts from epoch 1",
            where.ckpt,
            len(stale),
        )
    if dist.main:
        for d in (out_dir, live_dir):
            shutil.rmtree(d, ignore_errors=True)
    summary: dict = {"variant": name, "device": str(device), "nproc": dist.world, "seeds": {}}
    # whether the techniques this variant rests on worked (its data's crops or generated images, its init weights)
    summary["checks"] = {**read_checks(data_dir / "meta.json"), **read_checks(weights_dir / "checks.json")}
    upsampled = variant_upsampling(params, name, data_dir)
    if upsampled is not None:
        summary["upsampled"] = upsampled.to_dict()
        if dist.main:
            log.warning("%s", upsampled.message(f"train@{name} trains"))
    for i, seed in enumerate(cfg.seeds):
        run_seed = params.base.seed + seed
        seed_everything(run_seed)
        train_set, val_set, class_names = load_train_val(cfg, data_dir, run_seed, f"variants.{name}.train_images")
        model = create_model(
            cfg.model,
            len(class_names),
            cfg.init,
            dropout=cfg.dropout,
            weights_dir=seed_weights_dir(cfg.init, weights_dir, seed),
            model_args=cfg.model_args,
            mods=cfg.mods,
        )
        features = None
        train_cached, val_cached = cache_plan(cfg, model)
        if not dist.active and val_cached:
            cached_train = train_set if train_cached else None
            layout = Compute.of(cfg, device).memory_format  # the training's: the features are its bits
            features = cached_features(
                model, cfg, cached_train, val_set, run_seed, device, inputs, where.features, memory_format=layout
            )
            if features.augmented_views:
                summary["features"] = {"augmented_views": features.augmented_views}
        live = open_live(live_dir if i == 0 else seed_dir(out_dir, seed) / "live") if dist.main else None

        def log_row(row: dict, live=live) -> None:
            keys = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s")
            metrics = {k.replace("_", "/", 1) if k.startswith(("train_", "val_")) else k: row[k] for k in keys}
            log_metrics(live, row["epoch"] - 1, metrics, next_step=True)

        log.info(
            "variant %s seed %d: %s on %s (%d train / %d val images), %d trainable (%s) of %d params",
            name,
            seed,
            cfg.model,
            device,
            len(train_set),
            len(val_set),
            count_parameters(model) if cfg.mode == "full" else sum(p.numel() for p in model.head.parameters()),
            cfg.mode if cfg.mode == "full" else f"{cfg.mode}: head first",
            count_parameters(model),
        )
        state_path = ckpt_dir / f"seed{seed}.pt"
        try:
            history, best_state = fit(
                model, train_set, val_set, cfg, run_seed, device, state_path, log_row if live else None, features, dist
            )
        except Diverged as err:
            raise ConfigError(_diverged(params, name, cfg, seed, err)) from None
        except KeyboardInterrupt:
            raise Interrupted(_interrupted(name, seed, state_path, cfg.epochs)) from None
        if not dist.main:
            continue
        live.end()
        save_seed(seed_dir(out_dir, seed), _meta(cfg, class_names, history.best_epoch), best_state, model, history.rows)
        summary["seeds"][str(seed)] = {
            "best_epoch": history.best_epoch,
            "best_val_acc": history.best_val_acc,
            "epochs_run": len(history.rows),
            "train_time_s": history.train_time_s,
            "epoch_time_s": float(np.mean([r["epoch_time_s"] for r in history.rows])),
            "val_time_s": float(np.mean([r.get("val_time_s", 0.0) for r in history.rows])),
            "checkpoint_time_s": float(np.mean([r.get("checkpoint_time_s", 0.0) for r in history.rows])),
        }
    distributed.barrier(dist)  # every process is done with the resume state
    if not dist.main:
        return summary
    save_variant(out_dir, name, cfg.model_dump(), summary)
    shutil.rmtree(where.ckpt, ignore_errors=True)  # finished: the resume state is no longer needed
    return summary


def _diverged(params: Params, name: str, cfg: TrainCfg, seed: int, err: Diverged) -> str:
    """One line naming the variant, the seed, the epoch and the learning rate to lower."""
    key = "phase2_lr" if err.phase == "phase2" else "lr"
    where = f"variants.{name}.{key}" if key in (params.variants[name] or {}) else f"train.{key}"
    return f"params.yaml: variants.{name}: seed {seed} {err}; lower {where} (now {getattr(cfg, key):g})"


def _interrupted(name: str, seed: int, state_path: Path, epochs: int) -> str:
    """What Ctrl-C kept: the resume state of the last finished epoch, from which `dvc repro` continues."""
    saved = load_state(state_path)
    if saved is None:
        return f"train@{name} seed {seed}: interrupted before its first epoch ended; run `dvc repro` again to start it"
    epoch = int(saved["epoch"])
    if epoch >= epochs:
        return f"train@{name} seed {seed}: interrupted after its last epoch; run `dvc repro` again to write its outputs"
    return (
        f"train@{name} seed {seed}: interrupted; the state after epoch {epoch} is kept in {state_path}: "
        f"run `dvc repro` again to resume from epoch {epoch + 1}"
    )


def _meta(cfg: TrainCfg, class_names: list[str], best_epoch: int) -> dict:
    """What load_trained needs to rebuild the model, saved beside its weights."""
    return {
        "model": cfg.model,
        "num_classes": len(class_names),
        "class_names": class_names,
        "init": cfg.init,
        "dropout": cfg.dropout,
        "model_args": cfg.model_args,
        "mods": cfg.mods,
        "best_epoch": best_epoch,
    }
