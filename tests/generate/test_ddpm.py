"""Class-conditional DDPM from diffusers: a noise-prediction step that learns, and the DDIM sampler's shapes."""

from __future__ import annotations

import torch

from finegrain.engine.schedule import warmup_cosine
from finegrain.generate.ddpm import DDPM, build_scheduler, build_unet, noise_prediction_loss, sample

torch.set_num_threads(1)


def test_unet_predicts_noise_of_the_input_shape_for_every_class_and_the_null_class():
    unet = build_unet(3, size=16, channels=(8, 16))
    x = torch.randn(4, 3, 16, 16)
    out = unet(x, torch.tensor([0, 10, 500, 999]), class_labels=torch.tensor([0, 1, 2, 3])).sample  # 3 = "no class"
    assert out.shape == x.shape


def test_noise_prediction_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    unet, scheduler = build_unet(2, size=16, channels=(8, 16)), build_scheduler(100)
    images, labels = torch.rand(8, 3, 16, 16) * 2 - 1, torch.tensor([0, 1] * 4)
    opt = torch.optim.Adam(unet.parameters(), 2e-3)

    def loss():
        torch.manual_seed(1)  # the same noise, timesteps and label drops every time
        return noise_prediction_loss(unet, scheduler, images, labels, 2, cond_drop=0.0)

    before = loss().item()
    for _ in range(5):
        value = loss()
        opt.zero_grad()
        value.backward()
        opt.step()
    assert loss().item() < 0.9 * before


def test_ddim_sampler_shapes_with_and_without_guidance():
    unet, scheduler = build_unet(2, size=16, channels=(8, 16)), build_scheduler(100)
    labels = torch.tensor([0, 1, 1])
    for guidance in (1.0, 3.0):
        out = sample(unet, scheduler, labels, 2, steps=3, guidance=guidance, generator=torch.Generator().manual_seed(0))
        assert out.shape == (3, 3, 16, 16) and out.min() >= -1 and out.max() <= 1
    assert unet.training


def test_wrapper_trains_samples_and_saves_its_config():
    torch.manual_seed(0)
    model = DDPM(2, size=16, channels=(8, 16), total_steps=40, train_timesteps=50, sample_steps=2)  # 2 warm-up steps
    lrs = []
    for _ in range(4):
        lrs.append(model.opt.param_groups[0]["lr"])
        assert set(model.train_step(torch.rand(4, 3, 16, 16) * 2 - 1, torch.tensor([0, 1, 0, 1]))) == {"loss"}
    assert lrs[0] < max(lrs) and model.opt.param_groups[0]["lr"] < max(lrs)  # warm-up, then decay
    assert model.sample(torch.tensor([1, 0])).shape == (2, 3, 16, 16)
    assert warmup_cosine(0, 10, 2) == 0.5 and warmup_cosine(10, 10, 2) == 0.0


def _trained(steps=6):
    torch.manual_seed(0)
    model = DDPM(2, size=16, channels=(8, 16), lr=1e-2, total_steps=steps, train_timesteps=50, sample_steps=2)
    for _ in range(steps):
        model.train_step(torch.rand(4, 3, 16, 16) * 2 - 1, torch.tensor([0, 1, 0, 1]))
    return model


def test_sampling_uses_the_ema_weights():
    model = _trained()
    labels, seed = torch.tensor([0, 1]), torch.Generator
    ema, raw = model.ema_unet(), model.unet
    assert not all(torch.equal(a, b) for a, b in zip(ema.parameters(), raw.parameters(), strict=True))
    assert model.ema.cur_decay_value > 0  # the warm-up decay after 6 steps: the EMA lags the trained weights
    args = (model.scheduler, labels, 2, 2, model.guidance)
    from_ema = sample(ema, *args, generator=seed().manual_seed(1))
    assert torch.equal(model.sample(labels, seed().manual_seed(1)), from_ema)
    assert not torch.equal(sample(raw, *args, generator=seed().manual_seed(1)), from_ema)
    assert raw.training and all(p.requires_grad for p in raw.parameters())  # training can go on


def test_saved_generator_loads_with_diffusers_from_pretrained_and_samples_the_same(tmp_path):
    from diffusers import DDIMScheduler, UNet2DModel

    model = _trained()
    model.save_pretrained(tmp_path)
    unet = UNet2DModel.from_pretrained(tmp_path / "unet")
    scheduler = DDIMScheduler.from_pretrained(tmp_path / "scheduler")
    assert unet.config.num_class_embeds == 3 and scheduler.config.num_train_timesteps == 50
    labels = torch.tensor([1, 0])
    rng = torch.Generator().manual_seed
    loaded = sample(unet, scheduler, labels, 2, steps=2, guidance=model.guidance, generator=rng(4))
    assert torch.equal(loaded, model.sample(labels, rng(4)))


def test_resume_state_includes_the_ema():
    model = _trained()
    other = DDPM(2, size=16, channels=(8, 16), lr=1e-2, total_steps=6, train_timesteps=50, sample_steps=2)
    other.load_state_dict(model.state_dict())
    labels = torch.tensor([0, 1])
    rng = torch.Generator().manual_seed
    assert torch.equal(other.sample(labels, rng(2)), model.sample(labels, rng(2)))
