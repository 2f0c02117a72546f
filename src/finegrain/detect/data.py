"""Detector training batches straight from a shard split: BGR uint8 tensors and DetDataSamples with GT boxes."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from finegrain.data.shards import ShardSplit


class BoxBatches:
    """Endless seeded shuffled batches of the items of `split` at `positions` (each with one GT box).

    Images are converted RGB -> BGR as mmdet's loaders do (configs normalise with bgr_to_rgb=True), optionally
    resized to image_px and flipped horizontally with probability 0.5. `labels` are the detector's class ids.
    """

    def __init__(
        self, split: ShardSplit, positions: np.ndarray, labels: np.ndarray, batch_size: int, image_px: int, seed: int
    ) -> None:
        self.split, self.positions, self.labels = split, np.asarray(positions), np.asarray(labels)
        self.boxes = split.boxes()
        self.batch_size, self.image_px = min(batch_size, len(self.positions)), image_px
        self.rng = np.random.default_rng(seed)
        self._order: list[int] = []

    def _next_positions(self) -> list[int]:
        out = []
        while len(out) < self.batch_size:
            if not self._order:
                self._order = list(self.rng.permutation(len(self.positions)))
            out.append(self._order.pop())
        return out

    def __next__(self) -> dict:
        inputs, samples = [], []
        for k in self._next_positions():
            i = int(self.positions[k])
            image = torch.from_numpy(np.ascontiguousarray(self.split.image(i)[:, :, ::-1])).permute(2, 0, 1)
            box = torch.tensor(self.boxes[i], dtype=torch.float32)
            h, w = image.shape[1:]
            if self.image_px and max(h, w) != self.image_px:
                scale = self.image_px / max(h, w)
                size = (round(h * scale), round(w * scale))
                image = F.interpolate(image[None].float(), size=size, mode="bilinear", antialias=True)[0]
                image = image.round().clamp(0, 255).to(torch.uint8)
                box = box * torch.tensor([size[1] / w, size[0] / h] * 2)
                h, w = size
            if self.rng.random() < 0.5:
                image = image.flip(-1)
                box = torch.stack([w - box[2], box[1], w - box[0], box[3]])
            sample = DetDataSample(metainfo={"img_shape": (h, w), "ori_shape": (h, w), "scale_factor": (1.0, 1.0)})
            sample.gt_instances = InstanceData(
                bboxes=box[None], labels=torch.tensor([int(self.labels[k])], dtype=torch.long)
            )
            inputs.append(image.contiguous())
            samples.append(sample)
        return {"inputs": inputs, "data_samples": samples}

    def __iter__(self) -> BoxBatches:
        return self
