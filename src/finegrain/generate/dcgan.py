"""A class-conditional DCGAN (Radford et al. 2015) at 32 or 64 px with a projection discriminator.

Images are in [-1, 1]. The generator embeds the class and concatenates it to the noise; the discriminator adds the
inner product of a class embedding with its pooled features to its real/fake logit (Miyato & Koyama 2018).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

SIZES = (16, 32, 64)


def _n_stages(size: int) -> int:
    if size not in SIZES:
        raise ValueError(f"DCGAN size must be one of {SIZES} (got {size})")
    return int(math.log2(size // 4))


def _init_weights(module: nn.Module) -> None:
    """DCGAN init: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """(z, label) -> (N, 3, size, size) image in [-1, 1]: a 4x4 seed upsampled by stride-2 transposed convs."""

    def __init__(self, num_classes: int, size: int = 32, nz: int = 64, ngf: int = 32) -> None:
        super().__init__()
        n = _n_stages(size)
        self.nz, self.size, self.num_classes = nz, size, num_classes
        self.embed = nn.Embedding(num_classes, nz)
        chans = [ngf * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 128, 64, 32 for ngf 32 at 32 px
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(2 * nz, chans[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(True),
        ]
        for c_in, c_out in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[-1], 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(_init_weights)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, self.embed(labels)], dim=1)
        return self.net(h[:, :, None, None])


class Discriminator(nn.Module):
    """(image, label) -> (N,) real/fake logits.

    Spectrally normalised stride-2 convs down to 4x4, a minibatch-standard-deviation channel (Karras et al. 2018:
    lets it see a batch without variety, i.e. mode collapse), one more conv, then a linear term plus the projection
    of a class embedding on the pooled features. No BatchNorm, so real and fake batches do not mix.
    """

    def __init__(self, num_classes: int, size: int = 32, ndf: int = 32, mbstd_group: int = 4) -> None:
        super().__init__()
        n = _n_stages(size)
        chans = [ndf * 2**i for i in range(n)]  # e.g. 32, 64, 128
        sn = nn.utils.spectral_norm
        layers: list[nn.Module] = []
        for c_in, c_out in zip([3, *chans[:-1]], chans, strict=True):
            layers += [sn(nn.Conv2d(c_in, c_out, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        self.features = nn.Sequential(*layers)
        self.mbstd_group = mbstd_group
        self.final = nn.Sequential(sn(nn.Conv2d(chans[-1] + 1, chans[-1], 3, 1, 1)), nn.LeakyReLU(0.2, True))
        self.linear = sn(nn.Linear(chans[-1], 1))
        self.embed = sn(nn.Embedding(num_classes, chans[-1]))

    def _mbstd(self, h: torch.Tensor) -> torch.Tensor:
        n, c, hh, ww = h.shape
        g = self.mbstd_group if n % self.mbstd_group == 0 else 1
        grouped = h.view(g, n // g, c, hh, ww)
        var = (grouped - grouped.mean(0)).square().mean(0)  # (faster than Tensor.var on CPU)
        std = var.add(1e-8).sqrt().mean(dim=(1, 2, 3))  # (n // g,)
        return torch.cat([h, std.repeat(g).view(n, 1, 1, 1).expand(n, 1, hh, ww)], dim=1)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.final(self._mbstd(self.features(images))).sum(dim=(2, 3))  # (N, C) summed over the 4x4 map
        return self.linear(h).squeeze(1) + (self.embed(labels) * h).sum(1)


def diff_augment(x: torch.Tensor, translate: float = 0.125, cutout: float = 0.5) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020) 'color,translation,cutout': differentiable, per-sample augmentation of real and
    fake images before the discriminator, so it cannot memorise a small training set."""
    n, _, h, w = x.shape
    # colour: brightness, saturation, contrast
    x = x + (torch.rand(n, 1, 1, 1, device=x.device) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) + 0.5) + mean
    # translation (zero padding) by up to `translate` of the side
    shift = (torch.rand(n, 2, device=x.device) * 2 - 1) * translate * 2  # affine_grid units: 2 = full side
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, :, 2] = shift
    x = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), align_corners=False)
    # cutout: one square of side cutout * size per image set to 0
    side = int(h * cutout + 0.5)
    cy = torch.randint(0, h + 1 - side % 2, (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + 1 - side % 2, (n, 1, 1), device=x.device)
    ys, xs = torch.arange(h, device=x.device).view(1, h, 1), torch.arange(w, device=x.device).view(1, 1, w)
    hole = ((ys - cy).abs() < side / 2) & ((xs - cx).abs() < side / 2)
    return x * (~hole).unsqueeze(1).to(x.dtype)


def discriminator_loss(
    d: Discriminator, real: torch.Tensor, real_labels: torch.Tensor, fake: torch.Tensor, fake_labels: torch.Tensor
) -> torch.Tensor:
    """Standard GAN BCE: real -> 1, fake -> 0 (fake is detached); both DiffAugment-ed."""
    real_logits = d(diff_augment(real), real_labels)
    fake_logits = d(diff_augment(fake.detach()), fake_labels)
    real_loss = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    return real_loss + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def generator_loss(d: Discriminator, fake: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log D(G(z))."""
    logits = d(diff_augment(fake), labels)
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


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
    mode_seeking: float = 1.0,
) -> tuple[float, float]:
    """One discriminator and one generator update on a batch of real images in [-1, 1]. Returns (loss_d, loss_g).

    The fakes use the batch's labels twice over (halves share labels) for the mode-seeking term.
    """
    half = (len(real) + 1) // 2
    fake_labels = torch.cat([labels[:half], labels[:half]])[: len(real)]
    z = torch.randn(len(real), g.nz, device=real.device)
    fake = g(z, fake_labels)
    loss_d = discriminator_loss(d, real, labels, fake, fake_labels)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    loss_g = generator_loss(d, fake, fake_labels)
    if mode_seeking > 0 and len(real) >= 2:
        loss_g = loss_g + mode_seeking * mode_seeking_loss(fake, z)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


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
    """Generator, discriminator, their Adam optimisers (DCGAN's lr 2e-4, beta1 0.5 by default) and an exponential
    moving average of the generator (diffusers' `EMAModel` with warm-up; BatchNorm statistics follow the trained
    generator), which is what samples and what is saved."""

    def __init__(
        self,
        num_classes: int,
        size: int = 32,
        nz: int = 64,
        ngf: int = 32,
        ndf: int = 32,
        lr: float = 2e-4,
        beta1: float = 0.5,
        mode_seeking: float = 1.0,
        ema_power: float = 0.75,
        ema_max_decay: float = 0.999,
        device: torch.device | str = "cpu",
    ) -> None:
        from diffusers.training_utils import EMAModel

        self.mode_seeking = mode_seeking
        self.g = Generator(num_classes, size, nz, ngf).to(device)
        self.d = Discriminator(num_classes, size, ndf).to(device)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr, betas=(beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr, betas=(beta1, 0.999))
        self.ema = EMAModel(self.g.parameters(), decay=ema_max_decay, use_ema_warmup=True, power=ema_power)
        self._ema_g = copy.deepcopy(self.g).requires_grad_(False)

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        loss_d, loss_g = train_step(self.g, self.d, self.opt_g, self.opt_d, images, labels, self.mode_seeking)
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
