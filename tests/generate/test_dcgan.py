"""Class-conditional DCGAN: shapes at 16-64 px, training steps that lower the losses on a fixed batch, the AC-GAN
term, DiffAugment policies."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from finegrain.generate.config import DCGANCfg
from finegrain.generate.dcgan import (
    DCGAN,
    Discriminator,
    Generator,
    diff_augment,
    discriminator_loss,
    generator_loss,
    mode_seeking_loss,
    sample,
)

torch.set_num_threads(1)


@pytest.mark.parametrize("size", [16, 32, 64])
def test_generator_and_discriminator_shapes(size):
    g, d = Generator(3, size, nz=8, ngf=8), Discriminator(3, size, ndf=8)
    labels = torch.tensor([0, 1, 2, 1])
    fake = g(torch.randn(4, 8), labels)
    assert fake.shape == (4, 3, size, size) and fake.min() >= -1 and fake.max() <= 1
    logits, classes = d(fake, labels)
    assert logits.shape == (4,) and classes.shape == (4, 3)
    assert sample(g, labels, torch.Generator().manual_seed(0)).shape == (4, 3, size, size) and g.training


def test_unsupported_size_is_refused():
    with pytest.raises(ValueError, match="32, 64"):
        Generator(3, 48)


def _seeded(fn, seed=0):
    torch.manual_seed(seed)  # DiffAugment draws random parameters: the same draw before and after the step
    return fn()


def test_training_steps_lower_the_losses_on_a_fixed_batch():
    torch.manual_seed(0)
    g, d = Generator(2, 32, nz=8, ngf=8), Discriminator(2, 32, ndf=8)
    real, labels = torch.rand(8, 3, 32, 32) * 2 - 1, torch.tensor([0, 1] * 4)
    with torch.no_grad():
        fake = g(torch.randn(8, 8), labels)
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    d_loss = lambda: discriminator_loss(d, real, labels, fake, labels)  # noqa: E731
    before = _seeded(d_loss).item()
    for _ in range(3):
        loss = _seeded(d_loss)
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()
    assert _seeded(d_loss).item() < before

    z = torch.randn(8, 8)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    g_loss = lambda: generator_loss(d, g(z, labels), labels)  # noqa: E731
    before = _seeded(g_loss).item()
    for _ in range(3):
        loss = _seeded(g_loss)
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
    assert _seeded(g_loss).item() < before


def test_wrapper_step_and_state_round_trip():
    torch.manual_seed(0)
    model = DCGAN(2, 32, nz=8, ngf=8, ndf=8)
    losses = model.train_step(torch.rand(6, 3, 32, 32) * 2 - 1, torch.tensor([0, 1, 0, 1, 0, 1]))
    assert set(losses) == {"loss_d", "loss_g"} and all(torch.isfinite(torch.tensor(list(losses.values()))))
    other = DCGAN(2, 32, nz=8, ngf=8, ndf=8)
    other.load_state_dict(model.state_dict())
    labels = torch.tensor([0, 1])
    assert torch.equal(
        model.sample(labels, torch.Generator().manual_seed(1)), other.sample(labels, torch.Generator().manual_seed(1))
    )


def test_diff_augment_and_mode_seeking_term():
    x = torch.rand(4, 3, 32, 32, requires_grad=True)
    y = diff_augment(x)
    y.sum().backward()
    assert y.shape == x.shape and x.grad is not None
    z = torch.randn(4, 8)
    same = torch.ones(4, 3, 8, 8)
    varied = torch.cat([torch.zeros(2, 3, 8, 8), torch.ones(2, 3, 8, 8)])
    assert mode_seeking_loss(same, z) > 1000 * mode_seeking_loss(varied, z)  # identical outputs are penalised


def test_sampling_and_saved_weights_use_the_ema_generator():
    torch.manual_seed(0)
    model = DCGAN(2, 32, nz=8, ngf=8, ndf=8, lr=1e-2)
    for _ in range(4):
        model.train_step(torch.rand(6, 3, 32, 32) * 2 - 1, torch.tensor([0, 1, 0, 1, 0, 1]))
    labels = torch.tensor([0, 1])

    def rng():
        return torch.Generator().manual_seed(1)

    ema = model.ema_generator()
    assert torch.equal(model.sample(labels, rng()), sample(ema, labels, rng()))
    assert not torch.equal(model.sample(labels, rng()), sample(model.g, labels, rng()))
    saved = Generator(2, 32, nz=8, ngf=8)
    saved.load_state_dict(model.generator_state())
    assert torch.equal(sample(saved, labels, rng()), model.sample(labels, rng()))
    assert torch.equal(
        saved.norms[0].bn.running_mean, model.g.norms[0].bn.running_mean
    )  # BatchNorm stats of the trained G


def test_auxiliary_classifier_term_is_the_cross_entropy_of_the_class_head():
    torch.manual_seed(0)
    d = Discriminator(3, 16, ndf=8)
    real, fake = torch.rand(8, 3, 16, 16) * 2 - 1, torch.rand(8, 3, 16, 16) * 2 - 1
    labels, fake_labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]), torch.tensor([2, 1, 0, 2, 1, 0, 2, 1])

    def aux_part(loss_fn, images, lab, *args):
        with_aux = _seeded(lambda: loss_fn(d, *args, aux_weight=2.0, policy="translation"))
        without = _seeded(lambda: loss_fn(d, *args, aux_weight=0.0, policy="translation"))
        classes = _seeded(lambda: d(diff_augment(images, "translation"), lab)[1])
        return with_aux - without, 2.0 * F.cross_entropy(classes, lab)

    got, want = aux_part(discriminator_loss, real, labels, real, labels, fake, fake_labels)  # real images only
    assert torch.allclose(got, want, atol=1e-5) and want > 0
    got, want = aux_part(generator_loss, fake, fake_labels, fake, fake_labels)  # the fakes' intended classes
    assert torch.allclose(got, want, atol=1e-5) and want > 0


def test_auxiliary_classifier_learns_the_classes_of_real_images():
    """D steps on two visibly different classes (horizontal vs vertical stripes) make its class head right."""
    torch.manual_seed(0)
    stripes = (torch.arange(16) % 4 < 2).float() * 2 - 1
    horizontal, vertical = (
        stripes.view(1, 1, 16, 1).expand(4, 3, 16, 16),
        stripes.view(1, 1, 1, 16).expand(4, 3, 16, 16),
    )
    real, labels = torch.cat([horizontal, vertical]), torch.tensor([0] * 4 + [1] * 4)
    d = Discriminator(2, 16, ndf=8)
    opt = torch.optim.Adam(d.parameters(), 2e-3, betas=(0.5, 0.999))
    fake = torch.rand(8, 3, 16, 16) * 2 - 1
    for _ in range(30):
        loss = discriminator_loss(d, real, labels, fake, labels, aux_weight=1.0, policy="translation")
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert torch.equal(d(real, labels)[1].argmax(1), labels)


def test_diffaugment_policy_is_validated():
    assert torch.equal(diff_augment(torch.ones(2, 3, 8, 8), ""), torch.ones(2, 3, 8, 8))  # "" = no augmentation
    with pytest.raises(ValueError, match="unknown"):
        diff_augment(torch.ones(2, 3, 8, 8), "translation,flip")
    with pytest.raises(ValueError, match="unknown"):
        DCGAN(2, 16, nz=8, ngf=8, ndf=8, diffaugment="colour")
    with pytest.raises(ValueError, match="diffaugment"):
        DCGANCfg(diffaugment="translation,rotate")
    assert DCGANCfg(diffaugment="color,cutout").diffaugment == "color,cutout"
