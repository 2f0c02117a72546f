"""SimCLR (Chen et al. 2020) from lightly's pieces: SimCLRTransform views, SimCLRProjectionHead, NTXentLoss.

The backbone is any finegrain model (`create_model`) with its classifier head replaced by an identity, so its
weights load back into the same model for fine-tuning (`init: simclr`).
"""

from __future__ import annotations

import torch
from torch import nn

from finegrain.models.factory import Classifier, create_model


def backbone_of(model: str, model_args: dict | None = None) -> tuple[Classifier, int]:
    """`model` (random init, normalisation inside) with its head replaced by nn.Identity; returns (net, feature dim)."""
    net = create_model(model, 2, "none", model_args=model_args)
    head = net.head
    dims = [m.in_features for m in head.modules() if isinstance(m, nn.Linear)]
    parent_name, _, attr = net.head_name.rpartition(".")
    setattr(net.net.get_submodule(parent_name) if parent_name else net.net, attr, nn.Identity())
    return net, dims[0]


@torch.no_grad()
def embed(backbone: nn.Module, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """(N, D) features of float images (N, 3, H, W), for `knn_accuracy`; the backbone is put in eval mode and back."""
    was_training = backbone.training
    backbone.eval()
    out = torch.cat([backbone(images[i : i + batch]) for i in range(0, len(images), batch)])
    backbone.train(was_training)
    return out.flatten(1)


def backbone_state(backbone: Classifier) -> dict[str, torch.Tensor]:
    """Weights of the wrapped network without its (identity) head: keys as in a fresh `create_model(...).net`."""
    return {k: v.detach().clone() for k, v in backbone.net.state_dict().items()}


class SimCLR(nn.Module):
    """backbone -> projection head (2-layer MLP with BatchNorm, lightly's SimCLR v1 head)."""

    def __init__(self, backbone: nn.Module, feature_dim: int, hidden_dim: int = 512, out_dim: int = 128) -> None:
        from lightly.models.modules import SimCLRProjectionHead

        super().__init__()
        self.backbone = backbone
        self.projection = SimCLRProjectionHead(feature_dim, hidden_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(self.backbone(x).flatten(1))


def simclr_transform(
    size: int, min_scale: float = 0.08, cj_strength: float = 0.5, blur: float = 0.5, grayscale: float = 0.2
):
    """lightly's SimCLRTransform (random resized crop, flip, colour jitter p 0.8, grayscale p `grayscale`, blur)
    for uint8 CHW tensors -> two float [0, 1] views (no normalisation: finegrain models normalise inside).

    The blur sigma range (0.1, 2.0) of SimCLR's 224 px images is scaled to `size`.
    """
    from lightly.transforms import SimCLRTransform

    scale = size / 224
    return SimCLRTransform(
        input_size=size,
        cj_strength=cj_strength,
        min_scale=min_scale,
        gaussian_blur=blur,
        random_gray_scale=grayscale,
        sigmas=(0.1 * scale, 2.0 * scale),
        normalize=None,
    )


def nt_xent(temperature: float = 0.5) -> nn.Module:
    """lightly's NTXentLoss (no memory bank: the other 2N - 2 views of the batch are the negatives)."""
    from lightly.loss import NTXentLoss

    return NTXentLoss(temperature=temperature)
