"""Evaluate one variant's every seed on the test split; write gated quality metrics and ungated perf metrics."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from finegrain import paths
from finegrain.atomic import atomic_dir, write_json
from finegrain.augment.recipes import create_transforms
from finegrain.config import Params
from finegrain.data.shards import open_split
from finegrain.evaluate.metrics import classification_metrics, embeddings, knn_accuracy, mean_std, predict
from finegrain.models.factory import count_parameters
from finegrain.runtime import configure_threads, resolve_device
from finegrain.train.loop import Transformed
from finegrain.train.run import load_trained

log = logging.getLogger(__name__)

ROUND = 6  # metrics are rounded so that identical runs give byte-identical files


def evaluate_variant(params: Params, name: str) -> dict:
    """Write metrics/<name>.json, metrics/<name>.perf.json and data/eval/<name>/ (confusion, per-class)."""
    cfg = params.variant(name)
    configure_threads(params.base.threads)
    device = resolve_device(params.base.device)
    test = open_split(paths.data_input(cfg.data), "test")
    test_t = Transformed(test, create_transforms(cfg.augment, cfg.image_size_px, train=False))
    class_names = test.class_names
    summary = json.loads((paths.model_dir(name) / "summary.json").read_text())
    per_seed, speeds, confusion, per_class = [], [], None, []
    for seed in cfg.seeds:
        model = load_trained(paths.model_dir(name), seed)
        logits, labels, img_per_s = predict(model, test_t, device, params.evaluate.batch_size)
        m = classification_metrics(logits, labels, len(class_names))
        if cfg.loss in ("tcel", "triplet"):  # embedding quality, labelled apart from the classifier's top1
            train_t = Transformed(open_split(paths.data_input(cfg.data), "train"), test_t.transform)
            ref = embeddings(model, train_t, device, params.evaluate.batch_size)
            m["knn_top1"] = knn_accuracy(*ref, *embeddings(model, test_t, device, params.evaluate.batch_size))
        confusion = m.pop("confusion") if confusion is None else confusion + m.pop("confusion")
        per_class.append(m.pop("per_class_acc"))
        per_seed.append(m)
        speeds.append(img_per_s)
        if seed == cfg.seeds[0]:
            first_pred = logits.argmax(1).numpy()
    test_metrics = {}
    for key in per_seed[0]:
        mean, std = mean_std([m[key] for m in per_seed])
        test_metrics[key] = round(mean, ROUND)
        if len(per_seed) > 1:
            test_metrics[f"{key}_std"] = round(std, ROUND)
    val_mean, val_std = mean_std([s["best_val_acc"] for s in summary["seeds"].values()])
    quality = {
        "test": test_metrics,
        "val": {"top1": round(val_mean, ROUND)},
        "params": count_parameters(model),
        "seeds": len(cfg.seeds),
    }
    if len(cfg.seeds) > 1:
        quality["val"]["top1_std"] = round(val_std, ROUND)
    seeds = summary["seeds"].values()
    perf = {
        "epoch_time_s": float(np.mean([s["epoch_time_s"] for s in seeds])),
        "train_time_s": float(np.mean([s["train_time_s"] for s in seeds])),
        "infer_img_per_s": float(np.mean(speeds)),
        "device": str(device),
    }
    with atomic_dir(paths.EVAL / name) as out:
        pd.DataFrame(
            {"actual": [class_names[i] for i in test.labels], "predicted": [class_names[i] for i in first_pred]}
        ).to_csv(out / "predictions.csv", index=False)
        pd.DataFrame(confusion, index=class_names, columns=class_names).to_csv(out / "confusion_matrix.csv")
        pd.DataFrame({"class": class_names, "accuracy": np.mean(per_class, axis=0)}).to_csv(
            out / "per_class.csv", index=False
        )
    write_json(paths.METRICS / f"{name}.json", quality)
    write_json(paths.METRICS / f"{name}.perf.json", perf)
    log.info("%s: test top-1 %.4f, macro-F1 %.4f", name, test_metrics["top1"], test_metrics["macro_f1"])
    return quality
