"""No per-step sync: the loops read tensor values back a fixed number of times per epoch, not once per batch.

A device sync happens where host code reads a device tensor's value (`.item()`, `float()`, `.tolist()`, `.cpu()`,
a tensor in an `if`). `torch.cuda.set_sync_debug_mode` sees them on CUDA only; on the CPU these tests count the
same reads with a TorchFunctionMode, keeping those made by finegrain's own code (torch's internals, e.g. the
optimizer's CPU step counter, are not syncs of ours), and check the count does not grow with the batches.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import ToyGenerator
from torch.overrides import TorchFunctionMode
from torch.utils.data import DataLoader, TensorDataset

import finegrain
from finegrain.detect.infer import best_row
from finegrain.evaluate.metrics import predict
from finegrain.generate.loop import fit_generator
from finegrain.losses.factory import create_loss
from finegrain.models.factory import create_model
from finegrain.train.loop import epoch_totals

PACKAGE = str(Path(finegrain.__file__).parent)
READS = {"item", "__float__", "__int__", "__bool__", "__index__", "tolist", "numpy", "cpu", "__array__", "__format__"}
TORCH_WRAPPERS = ("torch/overrides.py", "torch/_tensor.py")


class ReadBacks(TorchFunctionMode):
    """Counts tensor reads whose caller (past torch's Python wrappers of Tensor methods) is finegrain's code."""

    def __init__(self) -> None:
        super().__init__()
        self.where: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in READS:
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename.endswith(TORCH_WRAPPERS):
                frame = frame.f_back
            if frame is not None and frame.f_code.co_filename.startswith(PACKAGE):
                self.where.append(f"{func.__name__} {Path(frame.f_code.co_filename).name}:{frame.f_lineno}")
        return func(*args, **(kwargs or {}))


def _reads(fn) -> list[str]:
    with ReadBacks() as mode:
        fn()
    return mode.where


def _data(n: int) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.rand(n, 3, 16, 16, generator=g), torch.arange(n) % 2)


def test_the_counter_sees_a_read_in_finegrain_code():
    from finegrain.evaluate.knn import knn_accuracy

    bank = torch.nn.functional.normalize(torch.rand(6, 4), dim=1)
    labels = torch.arange(6) % 2
    assert _reads(lambda: knn_accuracy(bank, labels, bank, labels, 3, 0.1, 2)) == ["__float__ knn.py:45"]


@pytest.mark.parametrize("training", [True, False])
def test_epoch_totals_reads_back_once_per_pass_whatever_the_batches(training):
    counts = []
    for n in (8, 32):
        torch.manual_seed(0)
        model = create_model("small_cnn", 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.01) if training else None
        loader = DataLoader(_data(n), batch_size=4)
        reads = _reads(lambda: epoch_totals(model, loader, torch.device("cpu"), create_loss("ce"), opt))  # noqa: B023
        counts.append(reads)
    assert counts[0] == counts[1]  # 2 batches or 8: the same reads
    assert len(counts[0]) == 2  # the summed loss and the correct count, at the end


def test_the_generator_loop_reads_its_losses_once_per_epoch(tmp_path):
    counts, means = [], []
    for n in (8, 32):
        images, labels = torch.rand(n, 3, 4, 4) * 2 - 1, torch.arange(n) % 2
        path = tmp_path / f"{n}.pt"
        toy = ToyGenerator(device_loss=True)  # losses stay on the device, as the real models return them
        reads = _reads(partial(lambda *args: means.append(fit_generator(*args)), toy, images, labels, 2, 4, 0, path))
        counts.append(len(reads))
    assert counts[0] == counts[1] == 2  # one mean loss per epoch, 2 epochs
    assert all(isinstance(row["loss"], float) for rows in means for row in rows)


def test_generator_means_equal_python_float_sums(tmp_path):
    """Device-side float64 sums add in the order Python floats did: the logged means are bit for bit the same."""
    torch.manual_seed(0)
    images, labels = torch.rand(12, 3, 4, 4) * 2 - 1, torch.arange(12) % 2
    losses = []

    class Recording(ToyGenerator):
        def train_step(self, images, labels):
            out = super().train_step(images, labels)
            losses.append(out["loss"].item())
            return out

    torch.manual_seed(1)
    rows = fit_generator(Recording(device_loss=True), images, labels, 1, 4, 0, tmp_path / "s.pt")
    total = 0.0
    for value in losses:
        total += value
    assert rows[0]["loss"] == total / 3


def test_predict_reads_the_logits_back_once_whatever_the_batches():
    counts = []
    for n in (8, 32):
        model = create_model("small_cnn", 2)
        reads = _reads(lambda: predict(model, _data(n), torch.device("cpu"), 4))  # noqa: B023
        counts.append(reads)
    assert counts[0] == counts[1] and len(counts[0]) == 1  # the concatenated logits' .cpu()


def _pred(scores, labels):
    scores = torch.tensor(scores, dtype=torch.float32)
    n = len(scores)
    boxes = torch.arange(n * 4, dtype=torch.float32).reshape(n, 4) + 0.5
    return SimpleNamespace(scores=scores, labels=torch.tensor(labels, dtype=torch.long), bboxes=boxes)


def _old_best(pred, keep_classes):  # the per-image version best_row replaces (one read per image)
    keep = torch.ones_like(pred.scores, dtype=torch.bool)
    if keep_classes is not None:
        keep = torch.isin(pred.labels, torch.tensor(keep_classes))
    if not keep.any():
        return [float("nan")] * 5
    best = int(torch.argmax(torch.where(keep, pred.scores, -1.0)))
    return [float(pred.scores[best]), *pred.bboxes[best].numpy().tolist()]


@pytest.mark.parametrize(
    ("scores", "labels", "keep"),
    [
        ([], [], None),
        ([0.2, 0.9, 0.9, 0.1], [0, 1, 2, 1], None),  # a tie: the first of the best
        ([0.2, 0.9, 0.5, 0.1], [0, 1, 2, 1], [0, 2]),
        ([0.2, 0.9], [1, 1], [0]),  # no box of the kept classes
        ([0.123456789, 0.0], [3, 4], [4]),  # a kept box of score 0
    ],
)
def test_best_row_matches_the_per_image_selection_without_reading_back(scores, labels, keep):
    pred = _pred(scores, labels)
    rows = []
    assert _reads(lambda: rows.append(best_row(pred, keep))) == []
    got, expected = rows[0].numpy().tolist(), _old_best(pred, keep)
    assert got == pytest.approx(expected, nan_ok=True, rel=0, abs=0)
