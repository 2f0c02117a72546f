"""A class-conditional DCGAN (Radford et al. 2015) at 16, 32 or 64 px: projection discriminator with an auxiliary
classifier (AC-GAN), hinge loss, DiffAugment, an MSGAN mode-seeking term, TTUR and an EMA generator.

Images are in [-1, 1]. The generator embeds the class, concatenates it to the noise and steers every layer with
class-conditional BatchNorm. The discriminator adds the inner product of a class embedding with its pooled features
to its real/fake logit (Miyato & Koyama 2018) and classifies real images with an auxiliary head whose verdict on the
fakes the generator is trained to match (Odena et al. 2017). The auxiliary term is what makes the samples
class-recognisable on a small CPU budget: a projection term alone left the classes' textures unlearned after
~1800 steps (README "Generated images").
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from finegrain.generate.config import DIFFAUGMENT

SIZES = (16, 32, 64)


def _n_stages(size: int) -> int:
    if size not in SIZES:
        raise ValueError(f"DCGAN size must be one of {SIZES} (got {size})")
    return int(math.log2(size // 4))


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without its own affine, then a per-class gain and bias (de Vries et al. 2017; Miyato & Koyama 2018):
    the class steers every layer of the generator, not only its input."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * self.gain(labels)[:, :, None, None] + self.bias(labels)[:, :, None, None]


class Generator(nn.Module):
    """(z, label) -> (N, 3, size, size) image in [-1, 1]: a linear 4x4 seed, then per stage a nearest 2x upsampling
    and a 3x3 conv (no transposed-conv checkerboards), each followed by class-conditional BatchNorm and ReLU."""

    def __init__(self, num_classes: int, size: int = 16, nz: int = 64, ngf: int = 16) -> None:
        super().__init__()
        n = _n_stages(size)
        self.nz, self.size, self.num_classes = nz, size, num_classes
        chans = [ngf * 2 ** (n - i) for i in range(n + 1)]  # e.g. 64, 32, 16 for ngf 16 at 16 px
        self.embed = nn.Embedding(num_classes, nz)
        self.fc = nn.Linear(2 * nz, chans[0] * 16)
        self.norms = nn.ModuleList([ConditionalBatchNorm2d(c, num_classes) for c in chans])
        self.convs = nn.ModuleList([nn.Conv2d(a, b, 3, 1, 1) for a, b in zip(chans[:-1], chans[1:], strict=True)])
        self.out = nn.Conv2d(chans[-1], 3, 3, 1, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([z, self.embed(labels)], dim=1)).view(len(z), -1, 4, 4)
        h = F.relu(self.norms[0](h, labels))
        for conv, norm in zip(self.convs, self.norms[1:], strict=True):
            h = F.relu(norm(conv(F.interpolate(h, scale_factor=2.0, mode="nearest")), labels))
        return torch.tanh(self.out(h))


class Discriminator(nn.Module):
    """(image, label) -> (real/fake logits (N,), class logits (N, num_classes)).

    Per stage two 3x3 convs with GroupNorm and LeakyReLU, then 2x average pooling, down to 4x4; a
    minibatch-standard-deviation channel (Karras et al. 2018: lets it see a batch without variety, i.e. mode
    collapse), one more conv, sum pooling; then a linear term plus the projection of a class embedding on the pooled
    features, and the auxiliary classifier head. GroupNorm, not BatchNorm, so real and fake batches never mix; no
    spectral norm: a spectrally normalised discriminator learned the texture classes too slowly for the CPU budget
    (its auxiliary head stayed near chance on real images for 600 steps, a GroupNorm one reached ~0.6 val accuracy).
    """

    def __init__(self, num_classes: int, size: int = 16, ndf: int = 16, mbstd_group: int = 4) -> None:
        super().__init__()
        n = _n_stages(size)
        chans = [ndf * 2**i for i in range(n + 1)]  # e.g. 16, 32, 64 at 16 px
        layers: list[nn.Module] = []
        c_in = 3
        for i, c in enumerate(chans):
            for _ in range(2):
                layers += [nn.Conv2d(c_in, c, 3, 1, 1), nn.GroupNorm(min(8, c), c), nn.LeakyReLU(0.2, True)]
                c_in = c
            if i < n:
                layers.append(nn.AvgPool2d(2))
        self.features = nn.Sequential(*layers)
        self.mbstd_group = mbstd_group
        self.final = nn.Sequential(nn.Conv2d(chans[-1] + 1, chans[-1], 3, 1, 1), nn.LeakyReLU(0.2, True))
        self.linear = nn.Linear(chans[-1], 1)
        self.embed = nn.Embedding(num_classes, chans[-1])
        self.classifier = nn.Linear(chans[-1], num_classes)
        for module in self.modules():  # He init for LeakyReLU(0.2)
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, a=0.2)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def _mbstd(self, h: torch.Tensor) -> torch.Tensor:
        n, c, hh, ww = h.shape
        g = self.mbstd_group if n % self.mbstd_group == 0 else 1
        grouped = h.view(g, n // g, c, hh, ww)
        var = (grouped - grouped.mean(0)).square().mean(0)  # (faster than Tensor.var on CPU)
        std = var.add(1e-8).sqrt().mean(dim=(1, 2, 3))  # (n // g,)
        return torch.cat([h, std.repeat(g).view(n, 1, 1, 1).expand(n, 1, hh, ww)], dim=1)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.final(self._mbstd(self.features(images))).sum(dim=(2, 3))  # (N, C) summed over the 4x4 map
        return self.linear(h).squeeze(1) + (self.embed(labels) * h).sum(1), self.classifier(h)


def diff_augment(
    x: torch.Tensor, policy: str = "translation", translate: float = 0.125, cutout: float = 0.5
) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020): differentiable, per-sample augmentation of real and fake images before the
    discriminator, so it cannot memorise a small training set. `policy`: comma-separated subset of DIFFAUGMENT
    ("" = none)."""
    unknown = set(filter(None, policy.split(","))) - set(DIFFAUGMENT)
    if unknown:
        raise ValueError(f"DiffAugment policy: unknown {sorted(unknown)}; expected a subset of {DIFFAUGMENT}")
    n, _, h, w = x.shape
    if "color" in policy:  # brightness, saturation, contrast
        x = x + (torch.rand(n, 1, 1, 1, device=x.device) - 0.5)
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) * 2) + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) + 0.5) + mean
    if "translation" in policy:  # by up to `translate` of the side, zero padding
        shift = (torch.rand(n, 2, device=x.device) * 2 - 1) * translate * 2  # affine_grid units: 2 = full side
        theta = torch.zeros(n, 2, 3, device=x.device)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, :, 2] = shift
        x = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), align_corners=False)
    if "cutout" in policy:  # one square of side cutout * size per image set to 0
        side = int(h * cutout + 0.5)
        cy = torch.randint(0, h + 1 - side % 2, (n, 1, 1), device=x.device)
        cx = torch.randint(0, w + 1 - side % 2, (n, 1, 1), device=x.device)
        ys, xs = torch.arange(h, device=x.device).view(1, h, 1), torch.arange(w, device=x.device).view(1, 1, w)
        hole = ((ys - cy).abs() < side / 2) & ((xs - cx).abs() < side / 2)
        x = x * (~hole).unsqueeze(1).to(x.dtype)
    return x


def discriminator_loss(
    d: Discriminator,
    real: torch.Tensor,
    real_labels: torch.Tensor,
    fake: torch.Tensor,
    fake_labels: torch.Tensor,
    aux_weight: float = 1.0,
    policy: str = "translation",
) -> torch.Tensor:
    """Hinge loss (real logits above 1, fake below -1; fake is detached) plus `aux_weight` x the auxiliary
    classifier's cross-entropy on the real images (only real ones: it learns the classes, not the generator's
    mistakes). Both batches DiffAugment-ed."""
    real_logits, real_classes = d(diff_augment(real, policy), real_labels)
    fake_logits, _ = d(diff_augment(fake.detach(), policy), fake_labels)
    loss = F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    if aux_weight > 0:
        loss = loss + aux_weight * F.cross_entropy(real_classes, real_labels)
    return loss


def generator_loss(
    d: Discriminator, fake: torch.Tensor, labels: torch.Tensor, aux_weight: float = 1.0, policy: str = "translation"
) -> torch.Tensor:
    """Hinge generator loss -D(G(z)) plus `aux_weight` x the auxiliary classifier's cross-entropy on the fakes
    against the classes they were generated for."""
    logits, classes = d(diff_augment(fake, policy), labels)
    loss = -logits.mean()
    if aux_weight > 0:
        loss = loss + aux_weight * F.cross_entropy(classes, labels)
    return loss


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """MSGAN (Mao et al. 2019): 1 / (|G(z1) - G(z2)| / |z1 - z2|) over the two halves of a batch whose halves share
    labels; minimising it stops a conditional generator from ignoring z (one image per class)."""
    half = len(fake) // 2
    ratio = (fake[:half] - fake[half : 2 * half]).abs().mean() / (z[:half] - z[half : 2 * half]).abs().mean()
    return 1.0 / (ratio + 1e-5)


def train_step(
    g: Generator,
    d: Discriminator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    labels: torch.Tensor,
    mode_seeking: float = 0.3,
    aux_weight: float = 1.0,
    policy: str = "translation",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One discriminator and one generator update on a batch of real images in [-1, 1]. Returns (loss_d, loss_g),
    detached 0-dim tensors on the device (reading them is the caller's choice: no sync per step here).

    The fakes use the batch's labels twice over (halves share labels) for the mode-seeking term.
    """
    half = (len(real) + 1) // 2
    fake_labels = torch.cat([labels[:half], labels[:half]])[: len(real)]
    z = torch.randn(len(real), g.nz, device=real.device)
    fake = g(z, fake_labels)
    loss_d = discriminator_loss(d, real, labels, fake, fake_labels, aux_weight, policy)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    loss_g = generator_loss(d, fake, fake_labels, aux_weight, policy)
    if mode_seeking > 0 and len(real) >= 2:
        loss_g = loss_g + mode_seeking * mode_seeking_loss(fake, z)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return loss_d.detach(), loss_g.detach()


@torch.no_grad()
def sample(g: Generator, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Images in [-1, 1] for `labels` (eval mode: BatchNorm uses its running statistics)."""
    was_training = g.training
    g.eval()
    device = next(g.parameters()).device
    z = torch.randn(len(labels), g.nz, generator=generator).to(device)
    out = g(z, labels.to(device))
    g.train(was_training)
    return out


class DCGAN:
    """Generator, discriminator, their Adam optimisers (two time-scale: the discriminator's lr `lr_d`, Heusel et al.
    2017) and an exponential moving average of the generator (diffusers' `EMAModel` with warm-up; BatchNorm
    statistics follow the trained generator), which is what samples and what is saved."""

    def __init__(
        self,
        num_classes: int,
        size: int = 16,
        nz: int = 64,
        ngf: int = 16,
        ndf: int = 16,
        lr: float = 2e-4,
        beta1: float = 0.5,
        mode_seeking: float = 0.3,
        ema_power: float = 0.75,
        ema_max_decay: float = 0.999,
        lr_d: float | None = None,
        aux_weight: float = 1.0,
        diffaugment: str = "translation",
        device: torch.device | str = "cpu",
    ) -> None:
        from diffusers.training_utils import EMAModel

        diff_augment(torch.zeros(1, 3, 4, 4), diffaugment)  # an unknown policy fails here, before any training
        self.mode_seeking, self.aux_weight, self.policy = mode_seeking, aux_weight, diffaugment
        self.g = Generator(num_classes, size, nz, ngf).to(device)
        self.d = Discriminator(num_classes, size, ndf).to(device)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr, betas=(beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr if lr_d is None else lr_d, betas=(beta1, 0.999))
        self.ema = EMAModel(self.g.parameters(), decay=ema_max_decay, use_ema_warmup=True, power=ema_power)
        self._ema_g = copy.deepcopy(self.g).requires_grad_(False)

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        loss_d, loss_g = train_step(
            self.g, self.d, self.opt_g, self.opt_d, images, labels, self.mode_seeking, self.aux_weight, self.policy
        )
        self.ema.step(self.g.parameters())
        return {"loss_d": loss_d, "loss_g": loss_g}

    def ema_generator(self) -> Generator:
        """A Generator with the EMA weights and the trained generator's BatchNorm running statistics."""
        self._ema_g.load_state_dict(self.g.state_dict())
        self.ema.copy_to(self._ema_g.parameters())
        return self._ema_g

    def state_dict(self) -> dict:
        return {k: getattr(self, k).state_dict() for k in ("g", "d", "opt_g", "opt_d", "ema")}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            getattr(self, key).load_state_dict(value)

    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return sample(self.ema_generator(), labels, generator)

    def generator_state(self) -> dict:
        """What a user needs to sample again: the (EMA) generator's weights."""
        return self.ema_generator().state_dict()
