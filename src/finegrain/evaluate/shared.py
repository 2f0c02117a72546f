"""Test logits of a frozen-backbone variant's seeds from one backbone pass: the seeds share the backbone's weights
(they trained only the head), so its test features are computed once and each seed's head runs on them."""

from __future__ import annotations

import time

import torch
from torch.utils.data import Dataset

from finegrain.models.factory import Classifier
from finegrain.models.head_block import extract, head_block_name
from finegrain.train.compute import FP32, Compute


class SharedBackbone:
    """Logits of models on `dataset`; the backbone's features are reused while its weights stay the same."""

    def __init__(self, dataset: Dataset, device: torch.device, batch_size: int, compute: Compute = FP32) -> None:
        self.dataset, self.device, self.batch_size, self.compute = dataset, device, batch_size, compute
        self.backbone: dict[str, torch.Tensor] | None = None
        self.features = self.labels = None
        self.img_per_s = 0.0

    def predict(self, model: Classifier) -> tuple[torch.Tensor, torch.Tensor, float]:
        """(logits, labels, images/s of the backbone pass) as `evaluate.metrics.predict`, bit for bit: the head runs
        on the same batches of the same features as inside the model's forward, under the same autocast."""
        block_name = head_block_name(model)
        block = model.net.get_submodule(block_name)
        prefix = f"net.{block_name}."
        backbone = {k: v for k, v in model.state_dict().items() if not k.startswith(prefix)}
        if not self._same(backbone):
            model.to(self.device)
            t0 = time.perf_counter()
            with self.compute.autocast_context(self.device):
                self.features, self.labels = extract(
                    model, block, self.dataset, self.device, self.batch_size, self.compute.memory_format
                )
            self.img_per_s = len(self.labels) / max(time.perf_counter() - t0, 1e-9)
            self.backbone = {k: v.detach().clone() for k, v in backbone.items()}
        model.eval()
        with torch.inference_mode(), self.compute.autocast_context(self.device):
            logits = [block(f.to(self.device)).float() for f in self.features.split(self.batch_size)]
        return torch.cat(logits).cpu(), self.labels, self.img_per_s

    def _same(self, backbone: dict[str, torch.Tensor]) -> bool:
        if self.backbone is None or backbone.keys() != self.backbone.keys():
            return False
        return all(torch.equal(v.cpu(), self.backbone[k]) for k, v in backbone.items())
