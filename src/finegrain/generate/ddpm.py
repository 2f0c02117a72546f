"""A class-conditional DDPM from diffusers: a small `UNet2DModel` with a class embedding, trained to predict noise
(`DDPMScheduler`), sampled with `DDIMScheduler` in few steps with classifier-free guidance from an exponential moving
average of the weights (diffusers' `EMAModel` with its warm-up, as in diffusers' training examples).

Class index `num_classes` is the "no class" token: labels are dropped to it with probability `cond_drop` during
training, so sampling can mix conditional and unconditional predictions (guidance > 1 sharpens class identity).
Images are in [-1, 1].
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn.functional as F

from finegrain.engine.schedule import warmup_cosine_scheduler


def build_unet(num_classes: int, size: int = 32, channels: tuple[int, ...] = (32, 64, 64), attention: bool = False):
    """A small UNet2DModel with `len(channels)` resolution levels, one ResNet block each, and a class embedding."""
    from diffusers import UNet2DModel

    n = len(channels)
    down = ["DownBlock2D"] * n
    up = ["UpBlock2D"] * n
    if attention:  # self-attention at the lowest resolution only
        down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
    return UNet2DModel(
        sample_size=size,
        in_channels=3,
        out_channels=3,
        layers_per_block=1,
        block_out_channels=tuple(channels),
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        norm_num_groups=min(8, channels[0]),
        attention_head_dim=8,
        add_attention=attention,
        num_class_embeds=num_classes + 1,  # + the "no class" token
    )


def build_scheduler(train_timesteps: int = 1000):
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=train_timesteps, beta_schedule="squaredcos_cap_v2")


def noise_prediction_loss(
    unet,
    scheduler,
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    cond_drop: float = 0.1,
    snr_gamma: float = 0.0,
) -> torch.Tensor:
    """MSE between the UNet's noise prediction and the noise added at a random timestep (labels dropped at random).

    snr_gamma > 0: Min-SNR-gamma weighting (Hang et al. 2023, as in diffusers' training examples): each timestep's
    loss weighted by min(SNR, gamma) / SNR, so the many nearly noise-free steps stop dominating; it converges faster.
    """
    noise = torch.randn_like(images)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (len(images),), device=images.device)
    noisy = scheduler.add_noise(images, noise, t)
    drop = torch.rand(len(labels), device=labels.device) < cond_drop
    labels = torch.where(drop, torch.full_like(labels, num_classes), labels)
    pred = unet(noisy, t, class_labels=labels).sample
    if snr_gamma <= 0:
        return F.mse_loss(pred, noise)
    from diffusers.training_utils import compute_snr

    snr = compute_snr(scheduler, t)
    weight = snr.clamp(max=snr_gamma) / snr
    return (weight * F.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3))).mean()


@torch.no_grad()
def sample(
    unet,
    scheduler,
    labels: torch.Tensor,
    num_classes: int,
    steps: int = 25,
    guidance: float = 2.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """DDIM samples in [-1, 1] for `labels`, with classifier-free guidance `guidance` (1 = purely conditional)."""
    from diffusers import DDIMScheduler

    ddim = DDIMScheduler.from_config(scheduler.config)
    ddim.set_timesteps(steps)
    size = unet.config.sample_size
    device = next(unet.parameters()).device
    x = torch.randn(len(labels), 3, size, size, generator=generator).to(device)
    labels = labels.to(device)
    was_training = unet.training
    unet.eval()
    uncond = torch.full_like(labels, num_classes)
    for t in ddim.timesteps:
        if guidance == 1.0:
            eps = unet(x, t, class_labels=labels).sample
        else:
            both = unet(torch.cat([x, x]), t, class_labels=torch.cat([labels, uncond])).sample
            eps_c, eps_u = both.chunk(2)
            eps = eps_u + guidance * (eps_c - eps_u)
        x = ddim.step(eps, t, x).prev_sample  # eta 0: deterministic
    unet.train(was_training)
    return x.clamp(-1, 1)


class DDPM:
    """UNet, noise scheduler, AdamW with linear warm-up then cosine decay over `total_steps`, an EMA of the UNet's
    weights (what samples and what is saved), DDIM sampling."""

    def __init__(
        self,
        num_classes: int,
        size: int = 32,
        channels: tuple[int, ...] = (32, 64, 64),
        attention: bool = False,
        lr: float = 2e-3,
        total_steps: int = 1000,
        train_timesteps: int = 1000,
        sample_steps: int = 25,
        guidance: float = 2.0,
        cond_drop: float = 0.1,
        snr_gamma: float = 0.0,
        ema_power: float = 0.75,
        ema_max_decay: float = 0.9999,
        device: torch.device | str = "cpu",
    ) -> None:
        from diffusers.training_utils import EMAModel

        self.num_classes, self.sample_steps, self.guidance = num_classes, sample_steps, guidance
        self.cond_drop, self.snr_gamma = cond_drop, snr_gamma
        self.unet = build_unet(num_classes, size, channels, attention).to(device)
        self.scheduler = build_scheduler(train_timesteps)
        self.opt = torch.optim.AdamW(self.unet.parameters(), lr, weight_decay=0.0)
        self.lr_sched = warmup_cosine_scheduler(self.opt, total_steps, max(1, total_steps // 20))
        # decay 1 - (1 + step) ** -power, capped at ema_max_decay: a short run still averages over its last stretch
        self.ema = EMAModel(
            self.unet.parameters(), decay=ema_max_decay, use_ema_warmup=True, inv_gamma=1.0, power=ema_power
        )
        self._ema_unet = copy.deepcopy(self.unet).requires_grad_(False).eval()

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        self.unet.train()
        loss = noise_prediction_loss(
            self.unet, self.scheduler, images, labels, self.num_classes, self.cond_drop, self.snr_gamma
        )
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.unet.parameters(), 1.0)
        self.opt.step()
        self.lr_sched.step()
        self.ema.step(self.unet.parameters())
        return {"loss": loss.detach()}  # read once per epoch by the loop, not per step

    def ema_unet(self):
        """A UNet2DModel holding the EMA weights (what `sample` and `save_pretrained` use)."""
        self.ema.copy_to(self._ema_unet.parameters())
        return self._ema_unet

    def state_dict(self) -> dict:
        return {
            "unet": self.unet.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "lr_sched": self.lr_sched.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.unet.load_state_dict(state["unet"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        self.lr_sched.load_state_dict(state["lr_sched"])

    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return sample(
            self.ema_unet(), self.scheduler, labels, self.num_classes, self.sample_steps, self.guidance, generator
        )

    def save_pretrained(self, out: Path) -> None:
        """diffusers folders: `out/unet` (the EMA weights; `UNet2DModel.from_pretrained`) and `out/scheduler`
        (the training noise schedule; `DDIMScheduler.from_pretrained` samples with it)."""
        self.ema_unet().save_pretrained(out / "unet")
        self.scheduler.save_pretrained(out / "scheduler")
