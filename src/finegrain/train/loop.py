"""`fit`: the training loop with validation, best-model tracking, early stopping and per-epoch resume."""

from __future__ import annotations

import copy
import logging
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from finegrain.augment.recipes import create_transforms
from finegrain.data.prefetch import Ahead, rng_states, same_states
from finegrain.data.transformed import Transformed
from finegrain.engine.loop import Epoch, run_epochs
from finegrain.errors import ConfigError
from finegrain.losses.elastic import elastic_net_penalty
from finegrain.losses.factory import Loss, create_loss
from finegrain.models.factory import Classifier
from finegrain.models.head_block import HeadOnly
from finegrain.train.augment_path import augment_path
from finegrain.train.compute import FP32, Compute
from finegrain.train.config import TrainCfg
from finegrain.train.distributed import (
    SINGLE,
    Dist,
    SameOrderSampler,
    all_sum,
    barrier,
    data_parallel,
    sync_batchnorm,
)
from finegrain.train.features import CachedFeatures
from finegrain.train.optim import create_optimizer, create_scheduler, step_scheduler
from finegrain.train.sampler import PKBatchSampler, class_labels

log = logging.getLogger(__name__)

FAULT_ENV = "FINEGRAIN_FAULT_KILL_AFTER_EPOCH"
"""Fault injection for tests: SIGKILL this process right after the checkpoint of this epoch (1-based)."""
FAULT_SIGNAL_ENV = "FINEGRAIN_FAULT_SIGNAL"
"""The signal FAULT_ENV sends instead of KILL, e.g. INT (what Ctrl-C sends)."""


class Diverged(Exception):
    """The loss became NaN or infinite in `epoch` (1-based) of `phase`; nothing of that epoch is saved."""

    def __init__(self, epoch: int, phase: str, losses: str) -> None:
        super().__init__(f"diverged in epoch {epoch} ({losses})")
        self.epoch, self.phase = epoch, phase


def _create_loss(cfg: TrainCfg) -> Loss:
    if cfg.loss == "ce":
        return create_loss("ce", label_smoothing=cfg.label_smoothing)
    triplet = cfg.triplet
    return create_loss(
        cfg.loss,
        weight=triplet.weight,
        margin=triplet.margin,
        mining=triplet.mining,
        label_smoothing=cfg.label_smoothing,
    )


@dataclass
class History:
    rows: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val_acc: float = -1.0
    stopped_early: bool = False

    @property
    def train_time_s(self) -> float:
        return float(sum(r["epoch_time_s"] for r in self.rows))


def _train_loader(dataset: Dataset, cfg: TrainCfg, epoch_seed: int, dist: Dist, **kw) -> DataLoader:
    """Shuffled by `epoch_seed`; under DDP each process takes its share of every global batch of that same order.

    With `cfg.batch_sampler` pk, class-balanced P×K batches drawn by `epoch_seed` instead (train.sampler).
    """
    if cfg.batch_sampler == "pk":
        batches = PKBatchSampler(class_labels(dataset), cfg.batch_size, cfg.pk_k, epoch_seed, dist)
        gen = torch.Generator().manual_seed(epoch_seed)  # workers' base seed, as below
        return DataLoader(dataset, batch_sampler=batches, generator=gen, **kw)
    drop_last = len(dataset) > cfg.batch_size
    if not dist.active:
        gen = torch.Generator().manual_seed(epoch_seed)
        return DataLoader(dataset, cfg.batch_size, shuffle=True, generator=gen, drop_last=drop_last, **kw)
    sampler = SameOrderSampler(dataset, dist, cfg.batch_size, epoch_seed, drop_last)
    gen = torch.Generator().manual_seed(epoch_seed)  # workers' base seed from it, as above, not the global RNG
    return DataLoader(dataset, cfg.batch_size // dist.world, sampler=sampler, generator=gen, **kw)


def epoch_totals(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    loss_fn: Loss,
    optimizer: torch.optim.Optimizer | None = None,
    penalty: Callable[[], torch.Tensor] | None = None,
    adversary: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    compute: Compute = FP32,
    after_step: Callable[[], None] | None = None,
    augment: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> tuple[float, int, int]:
    """One pass; trains when an optimizer is given. Returns (summed loss, correct, seen), to add across processes.

    Targets may be labels (N,) or soft targets (N, C) from CutMix/MixUp (accuracy then uses their argmax).
    `penalty` (e.g. elastic net) is added to the training loss; `adversary` (adversarial training) replaces
    training images by attacked ones; `compute` sets the image layout and autocast; `after_step` runs after
    every optimizer step (a per-step lr schedule, the weights' EMA); `augment` turns each batch on the device into
    model inputs and targets (the device augmentation path, augment.batched).
    """
    training = optimizer is not None
    model.train(training)
    # sums kept on the device (no sync per step); float64 adds in the same order as Python floats: same result
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    batches = Ahead(loader)  # the data in a background thread once the step is seen to draw no random numbers
    try:
        with torch.set_grad_enabled(training):
            for images, labels in batches:
                before = rng_states() if not seen else None
                images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
                if augment is not None:
                    images, labels = augment(images, labels)
                if images.ndim == 4:
                    images = images.contiguous(memory_format=compute.memory_format)
                if training and adversary is not None:
                    images = adversary(images, labels)
                with compute.autocast_context(device):
                    logits = model(images)
                    loss = loss_fn(logits, labels, model)
                logits = logits.float()
                if training:
                    if penalty is not None:
                        loss = loss + penalty()
                    optimizer.zero_grad(set_to_none=True)
                    if compute.scaler is not None:
                        compute.scaler.scale(loss).backward()
                        compute.scaler.step(optimizer)
                        compute.scaler.update()
                    else:
                        loss.backward()
                        optimizer.step()
                    if after_step is not None:
                        after_step()
                hard = labels.argmax(1) if labels.ndim == 2 else labels
                total_loss += loss.detach().double() * len(labels)
                correct += (logits.argmax(1) == hard).sum()
                seen += len(labels)
                if before is not None and same_states(before, rng_states()):
                    batches.go()
    finally:
        batches.close()
    return float(total_loss), int(correct), seen


def _resumable_keys(model: Classifier, features: CachedFeatures | None) -> set[str] | None:
    """The state-dict keys a resume state needs: all (None), or with cached features only the head block's.

    On cached features the backbone never runs, so it is exactly the one the variant's init rebuilds on resume;
    saving only the head keeps each epoch's state small (a frozen VGG16 would otherwise write ~1 GB per epoch).
    """
    if features is None:
        return None
    pointers = {t.data_ptr() for t in features.head.block.state_dict().values()}
    return {key for key, value in model.state_dict().items() if value.data_ptr() in pointers}


def _only(state: dict[str, torch.Tensor], keys: set[str] | None) -> dict[str, torch.Tensor]:
    return state if keys is None else {key: value for key, value in state.items() if key in keys}


def train_px(cfg: TrainCfg, epoch: int) -> int:
    """Training image size of 0-based `epoch`: image_size_px, or with progressive resizing (`resize.from_px`) a
    linear ramp from from_px (epoch 0) to image_size_px (at `resize.until` of the epochs), in multiples of 8."""
    start, end = cfg.resize.from_px, cfg.image_size_px
    if start is None or start >= end:
        return end
    ramp = max(1.0, cfg.resize.until * (cfg.epochs - 1))
    size = start + (end - start) * min(1.0, epoch / ramp)
    return min(end, int(round(size / 8)) * 8)


class _SeedRun:
    """One seed's training in four parts: setup (`__init__`), resume (`load_state_dict`), epoch (`__call__`, the
    engine's step) and save (`state_dict`, what the engine writes after each epoch)."""

    def __init__(
        self,
        model: Classifier,
        train_set: Dataset,
        val_set: Dataset,
        cfg: TrainCfg,
        device: torch.device,
        features: CachedFeatures | None,
        dist: Dist,
    ) -> None:
        self.model, self.train_set, self.cfg, self.device, self.features, self.dist = (
            model, train_set, cfg, device, features, dist
        )  # fmt: skip
        if not dist.main:  # under DDP the main process probes first; the others read its cached choice
            barrier(dist)
        self.compute = Compute.of(cfg, device)
        if dist.main:
            barrier(dist)
        model.to(device, memory_format=self.compute.memory_format)
        if cfg.batch_size % dist.world:
            raise ConfigError(f"batch_size: must divide among {dist.world} processes (got {cfg.batch_size})")
        if dist.active and cfg.sync_batchnorm:
            sync_batchnorm(model, device)
        self.frozen_epochs = cfg.epochs if cfg.mode == "frozen" else cfg.phase1_epochs if cfg.mode == "two_phase" else 0
        n = len(train_set)
        self.steps_per_epoch = n // cfg.batch_size if n > cfg.batch_size else 1  # _train_loader's drop_last
        self.ema, self.ema_steps = None, 0
        if cfg.ema.decay > 0:
            from timm.utils import ModelEmaV3

            self.ema = ModelEmaV3(model, decay=cfg.ema.decay, use_warmup=cfg.ema.warmup)
        self.loss_fn = _create_loss(cfg)
        self.penalty = None
        if cfg.elastic_net.lam > 0:
            output_layer = [m for m in model.head.modules() if isinstance(m, nn.Linear)][-1]
            self.penalty = lambda: elastic_net_penalty(output_layer, cfg.elastic_net.alpha, cfg.elastic_net.lam)
        self.adversary = None
        if cfg.adv.method != "none":
            from finegrain.adversarial.attacks import Adversary

            self.adversary = Adversary(model, cfg.adv.method, cfg.adv.eps, cfg.adv.prob, cfg.adv.steps, cfg.adv.alpha)
        self.collate = None
        if cfg.mix.mode != "none":
            from finegrain.augment.mix import MixCollate

            self.collate = MixCollate(model.head_out_features, cfg.mix.cutmix_alpha, cfg.mix.mixup_alpha, cfg.mix.mode)
        self.pin = device.type == "cuda"
        self.head_only = features is not None and features.train is not None  # the head alone trains on features
        self.scored_head = None  # validation on cached features: the head, or the head of the weights' EMA
        if features is not None:
            self.scored_head = features.head if self.ema is None else HeadOnly(self.ema.module)
        self.workers = 0 if self.head_only else cfg.num_workers  # cached features are in memory already
        self.augment, self.train_set = augment_path(cfg, device, train_set, self.head_only, model.head_out_features)
        if self.augment is not None:
            self.collate = None  # CutMix/MixUp run on the device batch
        if features is not None:
            val_set = features.val.epoch_dataset(0)
        if dist.active:  # each process scores its share of val; the sums are added
            val_set = Subset(val_set, range(dist.rank, len(val_set), dist.world))
        self.val_loader = DataLoader(
            val_set,
            batch_size=cfg.val_batch_size,
            num_workers=0 if features is not None else cfg.num_workers,
            pin_memory=self.pin,
        )
        self.resumable = _resumable_keys(model, features)
        self.best_epoch, self.best_val_acc, self.stopped_early, self.done = 0, -1.0, False, 0
        self.best_state = copy.deepcopy(self.scored.state_dict())
        self._set_phase(0)

    @property
    def scored(self) -> nn.Module:
        """What validation scores and the best weights are: the EMA of the weights when on, else the model."""
        return self.ema.module if self.ema is not None else self.model

    def _after_step(self) -> None:
        if self.cfg.lr_interval == "step" and self.scheduler is not None:
            self.scheduler.step()
        if self.ema is not None:
            self.ema_steps += 1
            self.ema.update(self.model, step=self.ema_steps)

    def _set_phase(self, epoch: int) -> None:
        """The optimizer, scheduler and trainable parts of 0-based `epoch`'s phase."""
        cfg, model = self.cfg, self.model
        frozen = epoch < self.frozen_epochs
        model.set_backbone_trainable(not frozen)
        if cfg.mode == "two_phase" and not frozen:
            self.optimizer = create_optimizer(model, cfg, lr=cfg.phase2_lr)
            self.scheduler, self.phase = (
                create_scheduler(self.optimizer, cfg, cfg.epochs - self.frozen_epochs, self.steps_per_epoch),
                "phase2",
            )
        else:
            self.optimizer = create_optimizer(model, cfg)
            epochs = self.frozen_epochs if cfg.mode == "two_phase" else cfg.epochs
            self.scheduler, self.phase = create_scheduler(self.optimizer, cfg, epochs, self.steps_per_epoch), "phase1"
        self.trainer = None  # made at the next epoch: DDP syncs the parameters trainable at its creation

    def state_dict(self) -> dict:
        return {
            "phase": self.phase,
            "model": _only(self.model.state_dict(), self.resumable),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.compute.scaler.state_dict() if self.compute.scaler is not None else None,
            "best": [self.best_epoch, self.best_val_acc, self.stopped_early, self.done],
            # the best weights are held in memory; a state of the best epoch itself holds them once (as `model`/`ema`)
            "best_model": None if self.best_epoch == self.done else _only(self.best_state, self.resumable),
            **(
                {"ema": _only(self.ema.module.state_dict(), self.resumable), "ema_steps": self.ema_steps}
                if self.ema is not None
                else {}
            ),
        }

    def load_state_dict(self, saved: dict) -> None:
        self.model.load_state_dict(saved["model"], strict=self.resumable is None)
        self.best_epoch, self.best_val_acc, self.stopped_early, self.done = saved["best"]
        self._set_phase(max(self.done - 1, 0))  # the phase of the last finished epoch
        self.optimizer.load_state_dict(saved["optimizer"])
        if self.scheduler is not None and saved["scheduler"] is not None:
            self.scheduler.load_state_dict(saved["scheduler"])
        if self.compute.scaler is not None and saved.get("scaler") is not None:
            self.compute.scaler.load_state_dict(saved["scaler"])
        if self.ema is not None:
            self.ema.module.load_state_dict(saved["ema"], strict=self.resumable is None)
            self.ema_steps = saved["ema_steps"]
        self.best_state = {**copy.deepcopy(self.scored.state_dict()), **(saved["best_model"] or {})}

    def _pass(
        self, net: nn.Module, loader: DataLoader, opt: torch.optim.Optimizer | None = None
    ) -> tuple[float, float]:
        extras = (self.penalty, self.adversary) if opt is not None else (None, None)
        steps = {"after_step": self._after_step, "augment": self.augment} if opt is not None else {}
        totals = epoch_totals(net, loader, self.device, self.loss_fn, opt, *extras, compute=self.compute, **steps)
        total_loss, correct, seen = all_sum(list(totals), self.dist, self.device)
        return total_loss / max(seen, 1), correct / max(seen, 1)

    def __call__(self, epoch: Epoch) -> dict:
        cfg, index = self.cfg, epoch.index
        if cfg.mode == "two_phase" and index == self.frozen_epochs and self.phase == "phase1":
            self._set_phase(index)
        if self.trainer is None:  # torch.compile after the DDP wrapper, as timm's train.py
            trainer = self.features.head if self.head_only else data_parallel(self.model, self.dist, self.device)
            self.trainer = self.compute.compiled(trainer)
        torch.manual_seed(epoch.seed + self.dist.rank * 2**40)
        if self.augment is not None:  # its own generator: the epoch's seed, apart from the global one
            self.augment.start_epoch(train_px(cfg, index), epoch.seed + self.dist.rank * 2**40 + 2**50)
        elif cfg.resize.from_px is not None and isinstance(self.train_set, Transformed):
            self.train_set.transform = create_transforms(cfg.augment, train_px(cfg, index), train=True)
        train_loader = _train_loader(
            self.features.train.epoch_dataset(epoch.seed) if self.head_only else self.train_set,
            cfg,
            epoch.seed,
            self.dist,
            num_workers=self.workers,
            pin_memory=self.pin,
            collate_fn=self.collate,
        )
        t0 = time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]
        train_loss, train_acc = self._pass(self.trainer, train_loader, self.optimizer)
        epoch_time = time.perf_counter() - t0
        val_loss, val_acc = self._pass(self.scored if self.features is None else self.scored_head, self.val_loader)
        val_time = time.perf_counter() - t0 - epoch_time
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            raise Diverged(index + 1, self.phase, f"train loss {train_loss:.4g}, val loss {val_loss:.4g}")
        if cfg.lr_interval == "epoch":
            step_scheduler(self.scheduler, val_loss)
        self.done = index + 1
        if val_acc > self.best_val_acc:
            self.best_val_acc, self.best_epoch = val_acc, index + 1
            self.best_state = copy.deepcopy(self.scored.state_dict())
        log.info(
            "epoch %d/%d  train loss %.4f acc %.4f  val loss %.4f acc %.4f%s  lr %.2e  %d px  %.1fs",
            *(index + 1, cfg.epochs, train_loss, train_acc, val_loss, val_acc, " (EMA)" if self.ema else ""),
            *(lr, cfg.image_size_px if self.head_only else train_px(cfg, index), epoch_time),
        )
        stale = self.done - self.best_epoch
        epoch.stop = self.stopped_early = cfg.early_stopping_patience > 0 and stale >= cfg.early_stopping_patience
        if epoch.stop:
            log.info("early stopping: val accuracy has not improved for %d epochs", stale)
        return {
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": lr,
            "epoch_time_s": epoch_time,
            "val_time_s": val_time,
        }


def _fault_injection(epoch: int, flush: Callable[[], None]) -> None:
    if os.environ.get(FAULT_ENV) == str(epoch):
        flush()  # "after the checkpoint": its background write is on disk
        os.kill(os.getpid(), getattr(signal, f"SIG{os.environ.get(FAULT_SIGNAL_ENV, 'KILL')}"))


def fit(
    model: Classifier,
    train_set: Dataset,
    val_set: Dataset,
    cfg: TrainCfg,
    seed: int,
    device: torch.device,
    state_path: Path,
    on_epoch: Callable[[dict], None] | None = None,
    features: CachedFeatures | None = None,
    dist: Dist = SINGLE,
) -> tuple[History, dict]:
    """Train `model`; resume from `state_path` when it holds a state of this run. Returns (history, best weights).

    With `features` (a frozen backbone's cached outputs) only the head block runs, on those features.
    With `dist` (torchrun), every process trains on its share of each global batch; rank 0 saves the state.
    """
    run = _SeedRun(model, train_set, val_set, cfg, device, features, dist)
    rows = run_epochs(
        run,
        cfg.epochs,
        seed,
        state={"run": run},
        state_path=state_path,
        on_epoch=on_epoch,
        saves=dist.main,
        checkpoint_every=cfg.checkpoint_every,
        on_saved=_fault_injection,
        desc="train",
        postfix=("train_loss", "val_acc"),
    )
    return History(rows, run.best_epoch, run.best_val_acc, run.stopped_early), run.best_state
