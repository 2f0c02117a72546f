"""Class activation maps via pytorch-grad-cam (Grad-CAM, Grad-CAM++, Score-CAM), for CNNs and ViTs."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch

from finegrain.explain.layers import cam_layer

METHODS = ("gradcam", "gradcam++", "scorecam")


def _cam_class(method: str):
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, ScoreCAM

    classes = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "scorecam": ScoreCAM}
    if method not in classes:
        raise ValueError(f"unknown CAM method {method!r}; expected one of {', '.join(METHODS)}")
    return classes[method]


def compute_cams(
    model: torch.nn.Module,
    images: torch.Tensor,
    targets: list[int],
    method: str = "gradcam",
    layer: str = "auto",
    batch_size: int = 32,
) -> np.ndarray:
    """(N, H, W) maps in [0, 1] (each scaled to its own max) of `targets` for images in [0, 1].

    `model` is a `Classifier`; `layer` names a module of `model.net` or is `auto` (see explain.layers.cam_layer).
    """
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    name, reshape = cam_layer(model.net, images.shape[-1], layer)
    target_layer = model.net.get_submodule(name)
    out = []
    with _cam_class(method)(model=model, target_layers=[target_layer], reshape_transform=reshape) as cam:
        if method == "scorecam":
            cam.batch_size = batch_size
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].clone().requires_grad_(True)  # a graph even for frozen layers
            t = [ClassifierOutputTarget(int(c)) for c in targets[start : start + batch_size]]
            with contextlib.redirect_stderr(io.StringIO()):  # Score-CAM's per-batch progress bars
                out.append(cam(input_tensor=x, targets=t))
    model.zero_grad(set_to_none=True)
    return np.concatenate(out).astype(np.float32)
