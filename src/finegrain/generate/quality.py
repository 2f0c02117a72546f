"""Quality of generated images without hub weights.

- Recognisability: a small_cnn "judge" trained on the real training split classifies the generated images (the
  GAN-test of Shmelkov et al. 2018). Its accuracy on real val images is the reference; whether a generator works
  is finegrain.checks.generator (the judge must reach JUDGE_MIN_ACC, the images GENERATED_MIN_SHARE of it).
- FID and KID (torchmetrics) on the pooled features of the offline ImageNet EfficientNet-Lite0 (data/weights/lite0),
  each beside its real-vs-real floor (real val vs real train) at the same image count.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from finegrain.data.tensors import resize_uint8
from finegrain.engine.loop import Epoch, run_epochs
from finegrain.engine.schedule import warmup_cosine_scheduler
from finegrain.errors import FinegrainError

KID_MAX_SUBSET = 1000


def train_reference_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    size: int,
    epochs: int,
    seed: int,
    lr: float = 3e-3,
    device: torch.device | str = "cpu",
) -> torch.nn.Module:
    """A small_cnn trained on real (uint8) images at `size` px with flips and random crops; returned in eval mode."""
    from finegrain.models.factory import create_model

    torch.manual_seed(seed)
    model = create_model("small_cnn", num_classes).to(device)
    x, labels = resize_uint8(images, size).to(device), labels.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr, weight_decay=1e-4)
    batch, steps = 32, max(1, len(x) // 32)
    total = epochs * steps
    sched = warmup_cosine_scheduler(opt, total, max(1, total // 10))
    pad = max(1, size // 8)  # random translation by up to 1/8 of the side
    model.train()

    def epoch_step(epoch: Epoch) -> dict:  # draws from the global RNG seeded above, not the epoch's seed
        order = torch.randperm(len(x)).to(device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)  # read once per epoch, not per step
        for i in range(steps):
            idx = order[i * batch : (i + 1) * batch]
            xb = x[idx]
            xb = torch.where(torch.rand(len(idx), 1, 1, 1).to(device) < 0.5, xb.flip(3), xb)
            dx, dy = torch.randint(0, 2 * pad + 1, (2,)).tolist()
            xb = F.pad(xb, (pad, pad, pad, pad), mode="reflect")[:, :, dy : dy + size, dx : dx + size]
            loss = F.cross_entropy(model(xb), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach().double()
            epoch.advance({"loss": float(loss_sum) / steps} if i == steps - 1 else None)
        return {"loss": float(loss_sum) / steps}

    run_epochs(epoch_step, epochs, seed, desc="judge", steps_per_epoch=steps)
    return model.eval()


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, size: int, batch: int = 256) -> torch.Tensor:
    """Predicted labels (on the CPU) of uint8 images resized to `size`, run on the model's device."""
    device = next(model.parameters()).device
    chunks = (resize_uint8(images[i : i + batch], size).to(device) for i in range(0, len(images), batch))
    return torch.cat([model(x).argmax(1).cpu() for x in chunks])


def recognisability(
    model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, class_names: list[str], size: int
) -> dict:
    """Accuracy of the reference classifier on images of known (intended) class: overall and per class."""
    correct = (predict(model, images, size) == labels.cpu()).float()
    per_class = {
        name: round(float(correct[labels == c].mean()), 6) for c, name in enumerate(class_names) if (labels == c).any()
    }
    return {"mean": round(float(correct.mean()), 6), "per_class": per_class}


class Lite0Features(torch.nn.Module):
    """tf_efficientnet_lite0 (offline ImageNet weights, classifier removed): uint8 (or [0, 1] float) images, resized
    to `size` px and normalised inside, -> (N, 1280) pooled features. A torchmetrics `feature=` extractor."""

    num_features = 1280

    def __init__(self, net: torch.nn.Module, size: int) -> None:
        super().__init__()
        from finegrain.models.lite import LITE_MEAN, LITE_STD

        self.net, self.size = net.eval(), size
        self.register_buffer("mean", torch.tensor(LITE_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(LITE_STD).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        return self.net((x.clamp(0, 1) - self.mean) / self.std)

    def train(self, mode: bool = True) -> Lite0Features:
        return super().train(False)  # always a frozen extractor (torchmetrics' Metric may call .train())


def lite0_extractor(weights_dir: Path, size: int = 64, device: torch.device | str = "cpu") -> Lite0Features:
    """The Lite0 feature extractor at `size` px from the offline ImageNet weights in `weights_dir`."""
    import timm

    path = weights_dir / "weights.pt"
    if not path.is_file():
        raise FinegrainError(f"{path}: efficientnet_lite0 ImageNet weights missing; run `dvc repro weights`")
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    net.reset_classifier(0)
    return Lite0Features(net.requires_grad_(False), size).to(device)


def kid_subset_size(n: int) -> int:
    """KID's subset size for n images per set: half of them (at most 1000, the KID paper's size).

    KID's estimator is unbiased at any subset size, so the mean over subsets is the whole-set value; half-size
    subsets differ from one another, so the std over them shows the estimate's sampling spread (subsets of all n
    images would all be the same set and report a std of 0)."""
    if n < 4:
        raise ValueError(f"KID needs at least 4 images per set (got {n})")
    return min(KID_MAX_SUBSET, n // 2)


class DistributionDistances:
    """FID and KID (torchmetrics) of image sets against one fixed real reference set, all of `n` images.

    The reference's features are computed once (`reset_real_features=False`); every compared set must also have
    exactly `n` images, so a set's FID and KID are comparable with the real-vs-real floor computed here too.
    """

    def __init__(
        self, extractor: torch.nn.Module, reference: torch.Tensor, kid_subsets: int = 100, batch: int = 64
    ) -> None:
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance

        self.n, self.batch = len(reference), batch
        self.subset_size = kid_subset_size(self.n)
        self.device = next(extractor.parameters()).device
        self.fid = FrechetInceptionDistance(feature=extractor, reset_real_features=False).to(self.device)
        self.kid = KernelInceptionDistance(
            feature=extractor, subsets=kid_subsets, subset_size=self.subset_size, reset_real_features=False
        ).to(self.device)
        self._update(reference, real=True)

    @torch.no_grad()
    def _update(self, images: torch.Tensor, real: bool) -> None:
        for i in range(0, len(images), self.batch):
            chunk = images[i : i + self.batch].to(self.device)
            self.fid.update(chunk, real=real)
            self.kid.update(chunk, real=real)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, seed: int = 0) -> dict:
        """{fid, kid, kid_std} of uint8 `images` (exactly n) vs the reference; KID's subsets are drawn from `seed`."""
        if len(images) != self.n:
            raise ValueError(f"compare sets of the reference's size: {len(images)} images, reference has {self.n}")
        self.fid.reset()
        self.kid.reset()
        self._update(images, real=False)
        fid = float(self.fid.compute())
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # torchmetrics draws KID's subsets from the global RNG
            kid_mean, kid_std = (float(v) for v in self.kid.compute())
        return {"fid": round(fid, 3), "kid": round(kid_mean, 6), "kid_std": round(kid_std, 6)}
