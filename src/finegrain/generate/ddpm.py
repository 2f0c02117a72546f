"""A class-conditional DDPM from diffusers: a small `UNet2DModel` with a class embedding, trained to predict noise
(`DDPMScheduler`), sampled with `DDIMScheduler` in few steps with classifier-free guidance.

Class index `num_classes` is the "no class" token: labels are dropped to it with probability `cond_drop` during
training, so sampling can mix conditional and unconditional predictions (guidance > 1 sharpens class identity).
Images are in [-1, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """lr factor: linear warm-up over `warmup` steps, then cosine from 1 to 0 at `total` (0 after it)."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


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
    unet, scheduler, images: torch.Tensor, labels: torch.Tensor, num_classes: int, cond_drop: float = 0.1
) -> torch.Tensor:
    """MSE between the UNet's noise prediction and the noise added at a random timestep (labels dropped at random)."""
    noise = torch.randn_like(images)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (len(images),), device=images.device)
    noisy = scheduler.add_noise(images, noise, t)
    drop = torch.rand(len(labels), device=labels.device) < cond_drop
    labels = torch.where(drop, torch.full_like(labels, num_classes), labels)
    return F.mse_loss(unet(noisy, t, class_labels=labels).sample, noise)


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
    x = torch.randn(len(labels), 3, size, size, generator=generator).to(labels.device)
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
        x = ddim.step(eps, t, x, generator=generator).prev_sample
    unet.train(was_training)
    return x.clamp(-1, 1)


class DDPM:
    """UNet, noise scheduler, AdamW with linear warm-up then cosine decay over `total_steps`, DDIM sampling."""

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
    ) -> None:
        self.num_classes, self.sample_steps, self.guidance = num_classes, sample_steps, guidance
        self.cond_drop = cond_drop
        self.unet = build_unet(num_classes, size, channels, attention)
        self.scheduler = build_scheduler(train_timesteps)
        self.opt = torch.optim.AdamW(self.unet.parameters(), lr, weight_decay=0.0)
        warmup = max(1, total_steps // 20)
        self.lr_sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: warmup_cosine(s, total_steps, warmup))

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        self.unet.train()
        loss = noise_prediction_loss(self.unet, self.scheduler, images, labels, self.num_classes, self.cond_drop)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.unet.parameters(), 1.0)
        self.opt.step()
        self.lr_sched.step()
        return {"loss": loss.item()}

    def state_dict(self) -> dict:
        return {"unet": self.unet.state_dict(), "opt": self.opt.state_dict(), "lr_sched": self.lr_sched.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.unet.load_state_dict(state["unet"])
        self.opt.load_state_dict(state["opt"])
        self.lr_sched.load_state_dict(state["lr_sched"])

    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return sample(
            self.unet, self.scheduler, labels, self.num_classes, self.sample_steps, self.guidance, generator=generator
        )

    def generator_state(self) -> dict:
        """The UNet's weights plus its and the scheduler's configs (enough to rebuild and sample)."""
        return {
            "unet": self.unet.state_dict(),
            "unet_config": dict(self.unet.config),
            "scheduler_config": dict(self.scheduler.config),
        }
