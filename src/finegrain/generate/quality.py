"""Quality of generated images without hub weights: recognisability by a classifier trained on the real training
split, and FID on offline EfficientNet-Lite0 ImageNet features (data/weights/lite0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from finegrain.errors import FinegrainError
from finegrain.generate.ddpm import warmup_cosine


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, H, W) uint8 -> (N, 3, size, size) float in [0, 1] (antialiased bilinear)."""
    x = images.float() / 255.0
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(0, 1)


def train_reference_classifier(
    images: torch.Tensor, labels: torch.Tensor, num_classes: int, size: int, epochs: int, seed: int
) -> torch.nn.Module:
    """A small_cnn trained on real (uint8) images at `size` px with flips and random crops; returned in eval mode."""
    from finegrain.models.factory import create_model

    torch.manual_seed(seed)
    model = create_model("small_cnn", num_classes)
    x = resize_uint8(images, size)
    opt = torch.optim.AdamW(model.parameters(), 3e-3, weight_decay=1e-4)
    batch, steps = 32, max(1, len(x) // 32)
    total = epochs * steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, total, max(1, total // 10)))
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for i in range(steps):
            idx = order[i * batch : (i + 1) * batch]
            xb = x[idx]
            xb = torch.where(torch.rand(len(idx), 1, 1, 1) < 0.5, xb.flip(3), xb)
            pad = max(1, size // 8)  # random translation by up to 1/8 of the side
            dx, dy = torch.randint(0, 2 * pad + 1, (2,)).tolist()
            xb = F.pad(xb, (pad, pad, pad, pad), mode="reflect")[:, :, dy : dy + size, dx : dx + size]
            loss = F.cross_entropy(model(xb), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, size: int, batch: int = 256) -> torch.Tensor:
    """Predicted labels of uint8 images resized to `size`."""
    return torch.cat([model(resize_uint8(images[i : i + batch], size)).argmax(1) for i in range(0, len(images), batch)])


def recognisability(
    model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, class_names: list[str], size: int
) -> dict:
    """Accuracy of the reference classifier on images of known (intended) class: overall and per class."""
    correct = (predict(model, images, size) == labels).float()
    per_class = {
        name: round(float(correct[labels == c].mean()), 6) for c, name in enumerate(class_names) if (labels == c).any()
    }
    return {"mean": round(float(correct.mean()), 6), "per_class": per_class}


def lite0_extractor(weights_dir: Path) -> torch.nn.Module:
    """timm tf_efficientnet_lite0 with the offline ImageNet weights, classifier removed (1280-d pooled features).

    Input: [0, 1] images; the Lite0 normalisation is applied inside.
    """
    import timm

    from finegrain.models.lite0 import LITE0_MEAN, LITE0_STD

    path = weights_dir / "weights.pt"
    if not path.is_file():
        raise FinegrainError(f"{path}: efficientnet_lite0 ImageNet weights missing; run `dvc repro weights`")
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    net.reset_classifier(0)
    mean, std = torch.tensor(LITE0_MEAN).view(1, 3, 1, 1), torch.tensor(LITE0_STD).view(1, 3, 1, 1)
    return torch.nn.Sequential(_Normalize(mean, std), net).eval()


class _Normalize(torch.nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


@torch.no_grad()
def features(extractor: torch.nn.Module, images: torch.Tensor, size: int, batch: int = 64) -> np.ndarray:
    """(N, D) float64 features of uint8 images resized to `size`."""
    out = [extractor(resize_uint8(images[i : i + batch], size)) for i in range(0, len(images), batch)]
    return torch.cat(out).double().numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two feature sets (N, D): |mu_a - mu_b|^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a S_b)^(1/2)).

    Exact without D x D matrices: with centred X_a, X_b, the eigenvalues of S_a S_b are the squared singular values
    of X_a X_b^T / sqrt((n_a - 1)(n_b - 1)), so the last trace is that matrix's nuclear norm. With fewer images than
    feature dimensions FID is biased upwards; compare values computed on the same numbers of images only.
    """
    xa, xb = a - a.mean(0), b - b.mean(0)
    scale = np.sqrt((len(a) - 1) * (len(b) - 1))
    cross = np.linalg.svd(xa @ xb.T / scale, compute_uv=False).sum()
    mean_term = float(((a.mean(0) - b.mean(0)) ** 2).sum())
    return mean_term + float((xa**2).sum() / (len(a) - 1) + (xb**2).sum() / (len(b) - 1) - 2 * cross)
