"""Class activation maps via pytorch-grad-cam (Grad-CAM, Grad-CAM++, Score-CAM), for CNNs and ViTs."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch

from finegrain.explain.layers import cam_layer
from finegrain.train.compute import FP32, Compute

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
    compute: Compute = FP32,
) -> np.ndarray:
    """(N, H, W) maps in [0, 1] (each scaled to its own max) of `targets` for images in [0, 1].

    `model` is a `Classifier`; `layer` names a module of `model.net` or is `auto` (see explain.layers.cam_layer).
    The passes run in `compute`'s layout and autocast; the target layer's activations (and so their gradients)
    are cast to float32 for pytorch-grad-cam, which reads them as NumPy arrays (NumPy has no bf16).
    """
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    name, reshape = cam_layer(model.net, images.shape[-1], layer)
    target_layer = model.net.get_submodule(name)
    out = []
    device = images.device
    with (
        compute.inference(model, device) as net,
        _float_output(target_layer, compute),
        _cam_class(method)(model=net, target_layers=[target_layer], reshape_transform=reshape) as cam,
    ):
        if method == "scorecam":
            cam.batch_size = batch_size
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].clone().requires_grad_(True)  # a graph even for frozen layers
            t = [ClassifierOutputTarget(int(c)) for c in targets[start : start + batch_size]]
            with contextlib.redirect_stderr(io.StringIO()):  # Score-CAM's per-batch progress bars
                out.append(cam(input_tensor=x, targets=t))
    model.zero_grad(set_to_none=True)
    return np.concatenate(out).astype(np.float32)


@contextlib.contextmanager
def _float_output(layer: torch.nn.Module, compute: Compute):
    """Under autocast, `layer`'s output cast to float32 (a forward hook registered before pytorch-grad-cam's, so
    its hooks see the float tensor); nothing without autocast."""
    if compute.autocast is None:
        yield
        return
    handle = layer.register_forward_hook(lambda _m, _inputs, out: out.float() if torch.is_tensor(out) else out)
    try:
        yield
    finally:
        handle.remove()
