"""`explain_model`: heatmap overlays, feature-map grid and faithfulness scores of one trained classifier."""

from __future__ import annotations

from pathlib import Path

import torch

from finegrain.explain.cam import compute_cams
from finegrain.explain.config import ExplainCfg
from finegrain.explain.faithfulness import deletion_scores
from finegrain.explain.figures import cam_grid, feature_grid
from finegrain.explain.layers import cam_layer, capture, feature_layers
from finegrain.train.compute import FP32, Compute

CAM_PNG, FEATURES_PNG = "cam.png", "feature_maps.png"


def explain_model(
    model: torch.nn.Module,
    overlay: tuple[torch.Tensor, torch.Tensor],
    faithful: tuple[torch.Tensor, torch.Tensor],
    class_names: list[str],
    cfg: ExplainCfg,
    out_dir: Path,
    batch_size: int = 32,
    compute: Compute = FP32,
) -> dict:
    """Write cam.png and feature_maps.png to out_dir for the `overlay` (images, labels); return metrics.

    `cfg` (evaluate.explain) names the heatmap methods, the target and feature layers, the feature channels shown
    and the faithfulness top-k and seed; its image counts are the caller's (`overlay`, `faithful`). Faithfulness is
    measured with the first method's heatmaps on the `faithful` (images, labels) of the predicted classes. Images
    are in [0, 1]; `model` is a `Classifier`. Predictions, heatmaps and deletion scores run in `compute`'s layout
    and autocast (the feature-map figure in float32).
    """
    methods, target_layer = list(cfg.methods), cfg.target_layer
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    device = next(model.parameters()).device
    images, labels = overlay[0].to(device), overlay[1]
    f_images = faithful[0].to(device)
    image_px = (images if len(images) else f_images).shape[-1]
    metrics: dict = {"cam_layer": cam_layer(model.net, image_px, target_layer)[0], "methods": list(methods)}
    if len(images):
        with torch.no_grad(), compute.inference(model, device) as net:
            preds = net(images).argmax(1)
        cams = {m: compute_cams(model, images, preds.tolist(), m, target_layer, batch_size, compute) for m in methods}
        titles = [f"{class_names[t]}→{class_names[p]}" for t, p in zip(labels.tolist(), preds.tolist(), strict=True)]
        cam_grid(images, cams, titles, out_dir / CAM_PNG)
        names = feature_layers(model.net, image_px, list(cfg.feature_layers) or None)
        maps = capture(model, model.net, names, images[:1])
        feature_grid(images[0], {n: m[0] for n, m in maps.items()}, cfg.feature_channels, out_dir / FEATURES_PNG)
    if len(f_images) and methods:
        with torch.no_grad(), compute.inference(model, device) as net:
            f_preds = net(f_images).argmax(1)
        f_cams = compute_cams(model, f_images, f_preds.tolist(), methods[0], target_layer, batch_size, compute)
        with compute.inference(model, device) as net:
            scores, _ = deletion_scores(net, f_images, f_cams, f_preds, cfg.topk, cfg.seed)
        metrics.update({"images": len(f_images), **scores})
    return metrics
