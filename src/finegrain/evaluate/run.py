"""Evaluate one variant's every seed on the test split; write its gated quality metrics and, apart, its timings."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from finegrain.atomic import atomic_dir
from finegrain.augment.recipes import create_transforms
from finegrain.data.resolution import variant_upsampling
from finegrain.data.shards import open_split, stratified_subset
from finegrain.data.transformed import Transformed
from finegrain.errors import ConfigError
from finegrain.evaluate.batch import eval_batches
from finegrain.evaluate.knn import knn_accuracy
from finegrain.evaluate.metrics import (
    classification_metrics,
    curve_roughness,
    embeddings,
    epochs_to_reach,
    majority_share,
    mean_std,
    phase_boundary,
    predict,
    train_val_gap,
)
from finegrain.evaluate.robustness import robustness_curve, summarise
from finegrain.evaluate.shared import SharedBackbone
from finegrain.explain.config import ExplainCfg
from finegrain.explain.sharpness import depth_metrics, feature_sharpness, sharpness_metrics
from finegrain.generate.output import save_grid
from finegrain.models.factory import count_parameters
from finegrain.models.trained import load_trained, load_untrained, read_history, trained_summary
from finegrain.params import Params
from finegrain.runtime import configure_threads, resolve_device
from finegrain.train.compute import Compute

log = logging.getLogger(__name__)

ROUND = 6  # metrics are rounded so that identical runs give byte-identical files


def machine_id() -> str:
    """Host name and processor: timing claims only compare runs with the same id."""
    import platform

    return f"{platform.node()} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def subset_positions(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Positions of a seeded stratified subset of n items (all when n >= len; none when n = 0)."""
    return stratified_subset(labels, n, seed) if n > 0 else np.arange(0)


def stack_items(dataset: Transformed, positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) tensors of the items at `positions`."""
    items = [dataset[int(i)] for i in positions]
    if not items:
        return torch.empty(0), torch.empty(0, dtype=torch.long)
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


def evaluate_variant(params: Params, name: str, data_dir: Path, models_dir: Path, eval_dir: Path) -> dict:
    """Evaluate variant `name` (its models in `models_dir`, its data input in `data_dir`): write `eval_dir`
    (predictions, confusion, per-class, robustness curves, heatmaps) and return its metrics, quality and timings."""
    cfg = params.variant(name)
    summary = trained_summary(models_dir, name, cfg.model_dump())
    configure_threads(params.base.threads, params.base.numerics)
    device = resolve_device(params.base.device)
    upsampled = variant_upsampling(params, name, data_dir)
    if upsampled is not None:
        log.warning("%s", upsampled.message(f"evaluate@{name} tests"))
    test = open_split(data_dir, "test")
    test_t = Transformed(test, create_transforms(cfg.augment, cfg.image_size_px, train=False))
    class_names = test.class_names
    rcfg, ecfg = params.evaluate.robust, params.evaluate.explain
    robust_pos = subset_positions(test.labels, rcfg.images if rcfg.attacks else 0, rcfg.seed)
    robust_set = stack_items(test_t, robust_pos)
    overlay_images = stack_items(test_t, subset_positions(test.labels, ecfg.images, ecfg.seed))[0]
    per_seed, speeds, confusion, per_class, curves, robust_s, sharpness = [], [], None, [], [], 0.0, []
    untrained_sharpness: list[dict[str, float]] = []  # the control: the same architecture, freshly initialised
    compute = Compute.of(cfg, device, train=False)  # the device's autocast, the layout the probe finds fastest
    workers = cfg.num_workers
    shared, batch = None, None
    for seed in cfg.seeds:
        model = load_trained(models_dir, seed)
        if batch is None:  # test passes in the fastest batch (auto: a probe); attacks and heatmaps in attack_batch
            batch, attack_batch = eval_batches(params.evaluate.batch_size, model, cfg, device, compute, len(test_t))
            shared = SharedBackbone(test_t, device, batch, compute)
        one_pass = cfg.mode == "frozen" and len(cfg.seeds) > 1 and params.evaluate.tta == "none"
        if shared is not None and one_pass:  # heads on one backbone pass
            try:
                logits, labels, img_per_s = shared.predict(model)
            except ConfigError:  # a head that does not take flat features: the whole model per seed
                shared = None
        if shared is None or not one_pass:
            logits, labels, img_per_s = predict(model, test_t, device, batch, compute, params.evaluate.tta, workers)
        if len(robust_pos):
            t0 = time.perf_counter()
            clean = logits[torch.from_numpy(robust_pos)].argmax(1) == labels[torch.from_numpy(robust_pos)]
            curve_args = (rcfg.eps, rcfg.attacks, rcfg.pgd_steps, rcfg.pgd_alpha, rcfg.seed, attack_batch)
            curves.append(robustness_curve(model, *robust_set, *curve_args, clean=clean, compute=compute))
            robust_s += time.perf_counter() - t0
        m = classification_metrics(logits, labels, len(class_names))
        if cfg.mods.get("embedding_head"):  # embedding quality, labelled apart from the classifier's top1
            train_t = Transformed(open_split(data_dir, "train"), test_t.transform)
            embed_args = (device, batch, compute, workers)
            ref = embeddings(model, train_t, *embed_args)
            m["knn_top1"] = knn_accuracy(*ref, *embeddings(model, test_t, *embed_args))
        if len(overlay_images):  # every seed's feature maps: how blurry each layer's are (explain.sharpness)
            sharpness.append(feature_sharpness(model, overlay_images, ecfg.feature_channels, ecfg.feature_layers))
            control = load_untrained(models_dir, seed).to(next(model.parameters()).device)
            untrained_sharpness.append(
                feature_sharpness(control, overlay_images, ecfg.feature_channels, ecfg.feature_layers)
            )
        confusion = m.pop("confusion") if confusion is None else confusion + m.pop("confusion")
        per_class.append(m.pop("per_class_acc"))
        per_seed.append(m)
        speeds.append(img_per_s)
        if seed == cfg.seeds[0]:
            first_pred, first_model = logits.argmax(1).numpy(), model
    test_metrics = {}
    for key in per_seed[0]:
        mean, std = mean_std([m[key] for m in per_seed])
        test_metrics[key] = round(mean, ROUND)
        if len(per_seed) > 1:
            test_metrics[f"{key}_std"] = round(std, ROUND)
    test_metrics["majority_top1"] = round(majority_share(test.labels, len(class_names)), ROUND)
    val_mean, val_std = mean_std([s["best_val_acc"] for s in summary["seeds"].values()])
    quality = {
        "test": test_metrics,
        "val": {"top1": round(val_mean, ROUND)},
        "params": count_parameters(model),
        "seeds": len(cfg.seeds),
    }
    if len(cfg.seeds) > 1:
        quality["val"]["top1_std"] = round(val_std, ROUND)
    histories = [read_history(models_dir, seed) for seed in cfg.seeds]  # the train stage's per-epoch rows
    curve = {  # per seed: lower = smoother convergence; epochs to 95% of the run's best val accuracy (lower = faster)
        "val_loss_roughness": [curve_roughness(h["val_loss"]) for h in histories],
        "epochs_to_95": [epochs_to_reach(h["val_acc"], 0.95) for h in histories],
        "train_val_gap": [train_val_gap(h["train_acc"], h["val_acc"]) for h in histories],
    }
    if cfg.mode == "two_phase":  # the val accuracy either side of the unfreezing
        steps = [phase_boundary(h["val_acc"], cfg.phase1_epochs) for h in histories]
        if all(steps):
            curve |= {key: [s[key] for s in steps] for key in steps[0]}
    quality["curve"] = {}
    for key, values in curve.items():
        mean, std = mean_std(values)
        quality["curve"][key] = round(mean, ROUND)
        if len(cfg.seeds) > 1:
            quality["curve"][f"{key}_std"] = round(std, ROUND)
    robust_rows: dict[str, list[dict]] = {}
    if curves:
        robust_metrics, robust_rows = summarise(curves, ROUND)
        quality["robust"] = {"images": len(robust_set[0]), **robust_metrics}
    if "features" in summary:  # a head trained on cached augmented views, not on every epoch's fresh augmentation
        quality["features"] = summary["features"]
    seeds = summary["seeds"].values()
    perf = {"infer_img_per_s": float(np.mean(speeds)), "test_batch": batch, "device": str(device)}
    perf["machine"] = machine_id()
    for key in ("epoch_time_s", "val_time_s", "checkpoint_time_s", "train_time_s"):
        perf[key], std = mean_std([s.get(key, 0.0) for s in seeds])
        if len(cfg.seeds) > 1:
            perf[f"{key}_std"] = std
    with atomic_dir(eval_dir) as out:
        pd.DataFrame(
            {"actual": [class_names[i] for i in test.labels], "predicted": [class_names[i] for i in first_pred]}
        ).to_csv(out / "predictions.csv", index=False)
        pd.DataFrame(confusion, index=class_names, columns=class_names).to_csv(out / "confusion_matrix.csv")
        pd.DataFrame({"class": class_names, "accuracy": np.mean(per_class, axis=0)}).to_csv(
            out / "per_class.csv", index=False
        )
        (out / "robust").mkdir()
        for attack, rows in robust_rows.items():
            pd.DataFrame(rows).to_csv(out / "robust" / f"{attack}.csv", index=False)
        t0 = time.perf_counter()
        explained = _explain(
            first_model, test_t, test.labels, class_names, ecfg, out / "explain", attack_batch, compute
        )
        perf["explain_time_s"] = time.perf_counter() - t0
        explained |= sharpness_metrics(sharpness, ROUND) | depth_metrics(sharpness, untrained_sharpness, ROUND)
        if explained:
            quality["explain"] = explained
        _generated_samples(data_dir, out / "explain" / "generated.png")
    perf["robust_time_s"] = robust_s
    log.info("%s: test top-1 %.4f, macro-F1 %.4f", name, test_metrics["top1"], test_metrics["macro_f1"])
    return {**quality, **perf}


def _generated_samples(data_dir: Path, png: Path, per_class: int = 8) -> None:
    """A grid (one row per class) of the generated images among the variant's training images, if it has any."""
    train = open_split(data_dir, "train")
    generated = train.subset(np.flatnonzero(train.index["generated"].to_numpy()))
    if len(generated):
        images = torch.stack([generated[i][0] for i in range(len(generated))])
        save_grid(png, images, torch.tensor(generated.labels), len(train.class_names), per_class)  # a copy: read-only


def _explain(
    model: torch.nn.Module,
    test_t: Transformed,
    labels: np.ndarray,
    class_names: list[str],
    ecfg: ExplainCfg,
    out_dir: Path,
    batch_size: int,
    compute: Compute,
) -> dict:
    """Heatmaps and feature maps into out_dir (the first seed's model); numeric faithfulness metrics."""
    from finegrain.explain.run import explain_model

    out_dir.mkdir()
    if not ecfg.images and not ecfg.faithfulness_images:
        return {}
    overlay = stack_items(test_t, subset_positions(labels, ecfg.images, ecfg.seed))
    faithful = stack_items(test_t, subset_positions(labels, ecfg.faithfulness_images, ecfg.seed))
    metrics = explain_model(model, overlay, faithful, class_names, ecfg, out_dir, batch_size, compute)
    log.info("explain: heatmaps of layer %s (%s)", metrics.pop("cam_layer"), ", ".join(metrics.pop("methods")))
    return {k: round(v, ROUND) if isinstance(v, float) else v for k, v in metrics.items()}
