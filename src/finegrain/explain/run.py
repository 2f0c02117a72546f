"""`explain_model`: heatmap overlays, feature-map grid and faithfulness scores of one trained classifier."""

from __future__ import annotations

from pathlib import Path

import torch

from finegrain.explain.cam import compute_cams
from finegrain.explain.faithfulness import deletion_scores
from finegrain.explain.figures import cam_grid, feature_grid
from finegrain.explain.layers import cam_layer, capture, feature_layers

CAM_PNG, FEATURES_PNG = "cam.png", "feature_maps.png"


def explain_model(
    model: torch.nn.Module,
    overlay: tuple[torch.Tensor, torch.Tensor],
    faithful: tuple[torch.Tensor, torch.Tensor],
    class_names: list[str],
    out_dir: Path,
    methods: list[str],
    target_layer: str = "auto",
    layers: list[str] | None = None,
    channels: int = 8,
    topk: float = 0.1,
    seed: int = 0,
    batch_size: int = 32,
) -> dict:
    """Write cam.png and feature_maps.png to out_dir for the `overlay` (images, labels); return metrics.

    Faithfulness is measured with the first method's heatmaps on the `faithful` (images, labels) of the
    predicted classes. Images are in [0, 1]; `model` is a `Classifier`.
    """
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    device = next(model.parameters()).device
    images, labels = overlay[0].to(device), overlay[1]
    f_images = faithful[0].to(device)
    image_px = (images if len(images) else f_images).shape[-1]
    metrics: dict = {"cam_layer": cam_layer(model.net, image_px, target_layer)[0], "methods": list(methods)}
    if len(images):
        with torch.no_grad():
            preds = model(images).argmax(1)
        cams = {m: compute_cams(model, images, preds.tolist(), m, target_layer, batch_size) for m in methods}
        titles = [f"{class_names[t]}→{class_names[p]}" for t, p in zip(labels.tolist(), preds.tolist(), strict=True)]
        cam_grid(images, cams, titles, out_dir / CAM_PNG)
        names = feature_layers(model.net, image_px, layers)
        maps = capture(model, model.net, names, images[:1])
        feature_grid(images[0], {n: m[0] for n, m in maps.items()}, channels, out_dir / FEATURES_PNG)
    if len(f_images) and methods:
        with torch.no_grad():
            f_preds = model(f_images).argmax(1)
        f_cams = compute_cams(model, f_images, f_preds.tolist(), methods[0], target_layer, batch_size)
        scores, _ = deletion_scores(model, f_images, f_cams, f_preds, topk, seed)
        metrics.update({"images": len(f_images), **scores})
    return metrics
