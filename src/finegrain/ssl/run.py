"""The pretrain stage: SimCLR on a data input's training split, kNN-monitored on val -> data/weights/simclr."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import torch

from finegrain import checks
from finegrain.atomic import atomic_dir, write_json
from finegrain.data.resolution import stored_size_key, upsampling
from finegrain.data.shards import ShardSplit, open_split
from finegrain.data.tensors import resize_uint8, to_device
from finegrain.engine.live import log_metrics, open_live
from finegrain.engine.loop import Epoch, run_epochs
from finegrain.engine.schedule import warmup_cosine_scheduler
from finegrain.evaluate.knn import knn_accuracy
from finegrain.params import Params
from finegrain.runtime import configure_threads, resolve_device, seed_everything
from finegrain.ssl.config import PretrainCfg
from finegrain.ssl.simclr import SimCLR, backbone_of, backbone_state, embed, nt_xent, simclr_transform
from finegrain.ssl.views import BatchSimCLRAugment
from finegrain.stage_metrics import split_timings
from finegrain.train.checkpoint import run_key

log = logging.getLogger(__name__)


def _stack(split: ShardSplit) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.stack([split[i][0] for i in range(len(split))])
    return images, torch.as_tensor(split.labels.copy())


def create_optimizer(params, cfg: PretrainCfg) -> torch.optim.Optimizer:
    """SGD with momentum (default) or lightly's LARS; the lr is scaled by the schedule."""
    if cfg.optimizer == "lars":
        from lightly.utils.lars import LARS

        return LARS(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


class _ViewPairs:
    """Two SimCLR views of a batch of uint8 images, batched (default) or through lightly's per-image transform."""

    def __init__(self, cfg: PretrainCfg) -> None:
        scale = cfg.image_size_px / 224  # SimCLR's blur sigmas (0.1, 2.0) are for 224 px images
        self.cfg = cfg
        self.batched = BatchSimCLRAugment(
            cfg.image_size_px,
            min_scale=cfg.min_scale,
            cj_strength=cfg.cj_strength,
            blur_prob=cfg.blur,
            gray_prob=cfg.grayscale,
            sigmas=(0.1 * scale, 2.0 * scale),
        )
        self.lightly = simclr_transform(cfg.image_size_px, cfg.min_scale, cfg.cj_strength, cfg.blur, cfg.grayscale)

    def __call__(self, images: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cfg.augment_impl == "batched":
            return self.batched(images, g), self.batched(images, g)
        with warnings.catch_warnings():  # lightly's blur calls torchvision's deprecated to_tensor on tensors
            warnings.simplefilter("ignore", UserWarning)
            pairs = [self.lightly(image) for image in images]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def pretrain(params: Params, data_dir: Path, out_dir: Path, live_dir: Path, ckpt_dir: Path) -> dict:
    """Train one SimCLR backbone per `pretrain.seeds` on `data_dir` (its input) into out_dir/seed<k>/weights.pt
    (variant seed k loads backbone k, so a claim's interval covers the pretraining's variation too); the first
    seed's dvclive logs go to `live_dir`, resume states to `ckpt_dir`. Returns the metrics: per seed, and pooled
    (the check judges every seed's kNN predictions)."""
    cfg = params.pretrain
    configure_threads(params.base.threads, params.base.numerics)
    device = resolve_device(params.base.device)
    upsampled = upsampling(
        data_dir, cfg.image_size_px, "pretrain.image_size_px", stored_size_key(cfg.input, params.generate.input)
    )
    if upsampled is not None:
        log.warning("%s", upsampled.message("pretrain trains SimCLR"))
    data = _Data(data_dir, cfg)
    runs, states = {}, {}
    for i, seed in enumerate(cfg.seeds):
        live = live_dir if i == 0 else None
        runs[seed], states[seed] = _pretrain_seed(cfg, params.base.seed + seed, data, device, live, ckpt_dir)
    metrics = _pooled(cfg, runs, len(data.val_y))
    metrics |= {"images": len(data.train_x), "steps": cfg.epochs * max(1, len(data.train_x) // cfg.batch_size)}
    metrics["device"] = str(device)
    if upsampled is not None:
        metrics["upsampled"] = upsampled.to_dict()
    metrics["check"] = checks.simclr(metrics).to_dict()
    _save_backbones(out_dir, cfg, states, split_timings(metrics)[0])  # no timings: same run, same bytes
    return metrics


class _Data:
    """A data input's train images (the SimCLR set and the kNN bank) and val images (kNN queries), uint8."""

    def __init__(self, src: Path, cfg: PretrainCfg) -> None:
        train_split, val_split = open_split(src, "train"), open_split(src, "val")
        self.index = src / "index.parquet"
        self.train_x, self.train_y = _stack(train_split)
        val_x, self.val_y = _stack(val_split)
        self.bank_x = resize_uint8(self.train_x, cfg.image_size_px)
        self.query_x = resize_uint8(val_x, cfg.image_size_px)
        self.num_classes = len(train_split.class_names)


def _pretrain_seed(
    cfg: PretrainCfg, seed: int, data: _Data, device: torch.device, live_dir: Path | None, ckpt_dir: Path
) -> tuple[dict, dict]:
    """One SimCLR run at `seed`: (its metrics, its backbone's state dict)."""
    seed_everything(seed)
    backbone, dim = backbone_of(cfg.model, cfg.model_args)
    model = SimCLR(backbone, dim, cfg.hidden_dim, cfg.out_dim).to(device)
    loss_fn = nt_xent(cfg.temperature)
    optimizer = create_optimizer(model.parameters(), cfg)
    train_x = data.train_x
    per_epoch = max(1, len(train_x) // cfg.batch_size)
    total, warmup = cfg.epochs * per_epoch, cfg.warmup_epochs * per_epoch
    scheduler = warmup_cosine_scheduler(optimizer, total, warmup)
    views = _ViewPairs(cfg)
    views_on_device = cfg.augment_impl == "batched" and cfg.augment_on != "cpu"  # auto: batched views on the device
    log.info("SimCLR seed %d views: %s, made on %s", seed, cfg.augment_impl, device if views_on_device else "cpu")

    def knn() -> float:
        bank = embed(backbone, data.bank_x.to(device))
        query = embed(backbone, data.query_x.to(device))
        y = data.train_y.to(device), data.val_y.to(device)
        return knn_accuracy(bank, y[0], query, y[1], cfg.knn_k, cfg.knn_t, data.num_classes)

    def epoch_step(epoch: Epoch) -> dict:
        g = torch.Generator().manual_seed(epoch.seed)
        order = torch.randperm(len(train_x), generator=g)
        model.train()
        loss_sum, lr = torch.zeros((), dtype=torch.float64, device=device), optimizer.param_groups[0]["lr"]
        for i in range(per_epoch):
            batch = train_x[order[i * cfg.batch_size : (i + 1) * cfg.batch_size]]
            v0, v1 = views(to_device(batch, device) if views_on_device else batch, g)
            loss = loss_fn(model(v0.to(device)), model(v1.to(device)))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach().double()  # on the device: read once per epoch, not per step
        return {"loss": float(loss_sum) / per_epoch, "lr": lr, "knn_val_acc": knn()}

    key = run_key({"pretrain": cfg.model_dump(), "seed": seed}, [data.index])
    state_path = ckpt_dir / f"{key}.pt"
    live = open_live(live_dir) if live_dir is not None else None
    log.info("SimCLR %s seed %d: %d images, %d steps/epoch", cfg.model, seed, len(train_x), per_epoch)
    history = run_epochs(
        epoch_step,
        cfg.epochs,
        seed,
        state={"model": model, "optimizer": optimizer, "scheduler": scheduler},
        state_path=state_path,
        initial=lambda: [{"epoch": 0, "knn_val_acc": knn()}],
        on_epoch=None if live is None else lambda row: log_metrics(live, row["epoch"], _logged(row)),
        desc=f"simclr seed {seed}",
        postfix=("loss", "knn_val_acc"),
    )
    first, last = history[0]["knn_val_acc"], history[-1]["knn_val_acc"]
    log.info("SimCLR seed %d kNN val acc: %.3f at random init, %.3f at the end", seed, first, last)
    if live is not None:
        live.end()
    state_path.unlink(missing_ok=True)
    metrics = {
        "knn_val_acc": last,
        "knn_val_acc_random_init": first,
        "best_knn_val_acc": max(r["knn_val_acc"] for r in history),
        "final_loss": history[-1].get("loss"),
        "train_time_s": round(sum(r.get("epoch_time_s", 0.0) for r in history), 3),
    }
    return metrics, backbone_state(backbone)


def _logged(row: dict) -> dict:
    return {k: row[k] for k in ("loss", "lr", "knn_val_acc") if k in row}


def _pooled(cfg: PretrainCfg, runs: dict[int, dict], val_images: int) -> dict:
    """The seeds' mean figures (the kNN check judges every seed's val predictions: n = val images x seeds)."""
    mean = {k: sum(r[k] for r in runs.values()) / len(runs) for k in ("knn_val_acc", "knn_val_acc_random_init")}
    return {
        **mean,
        "knn_val_images": len(runs) * val_images,
        "seeds": {str(s): r for s, r in runs.items()},
        "epochs": cfg.epochs,
        "input": cfg.input,
    }


def _save_backbones(out_dir: Path, cfg: PretrainCfg, states: dict[int, dict], metrics: dict) -> None:
    """out_dir/seed<k>/weights.pt per seed, with the pooled metrics and the check beside them."""
    with atomic_dir(out_dir) as tmp:
        for seed, state_dict in states.items():
            state = {
                "model": cfg.model,
                "model_args": dict(cfg.model_args),
                "state_dict": state_dict,
                "image_size_px": cfg.image_size_px,
            }
            buffer = io.BytesIO()
            torch.save(state, buffer)
            (tmp / f"seed{seed}").mkdir()
            (tmp / f"seed{seed}" / "weights.pt").write_bytes(buffer.getvalue())
        write_json(tmp / "pretrain.json", metrics)
        if "check" in metrics:  # what variants with init: simclr carry into their summary
            write_json(tmp / "checks.json", {"simclr": metrics["check"]})
        (tmp / "README.txt").write_text(
            f"SimCLR backbones of {cfg.model} (model_args {dict(cfg.model_args)}), one per pretrain seed "
            f"({', '.join(f'seed{s}/' for s in states)}), {cfg.epochs} epochs on data/{cfg.input} train at "
            f"{cfg.image_size_px} px; seed k of a variant with init: simclr loads seed<k>/weights.pt.\n"
        )
