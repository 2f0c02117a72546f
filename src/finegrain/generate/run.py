"""The generate stage: train each generator on the input's training split, sample, measure, write the outputs.

Outputs: data/generated/<method>/ (a `train`-only shard dataset of generated images flagged generated=True, upsampled
to the input's size, plus generator.pt), data/plots/generate/grids/<method>.png, dvclive losses in
data/plots/generate/live, and the quality metrics.
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path

import torch

from finegrain import checks
from finegrain.atomic import atomic_dir, write_json
from finegrain.data.shards import ShardSplit, open_split
from finegrain.data.tensors import resize_uint8
from finegrain.engine.live import log_metrics, open_live
from finegrain.engine.progress import progress
from finegrain.generate.config import GenerateCfg
from finegrain.generate.loop import fit_generator, steps_per_epoch
from finegrain.generate.output import save_grid, to_uint8, write_generated
from finegrain.generate.quality import (
    DistributionDistances,
    lite0_extractor,
    recognisability,
    train_reference_classifier,
)
from finegrain.params import Params
from finegrain.runtime import configure_threads, resolve_device, seed_everything
from finegrain.train.checkpoint import run_key

log = logging.getLogger(__name__)


def build_method(method: str, cfg: GenerateCfg, num_classes: int, n_train: int, device: torch.device | str = "cpu"):
    """A fresh DCGAN or DDPM with its params (the DDPM's lr schedule spans all its training steps)."""
    if method == "dcgan":
        from finegrain.generate.dcgan import DCGAN

        c = cfg.dcgan  # every field but the loop's is a DCGAN keyword of the same name
        return DCGAN(num_classes, c.size_px, **c.model_dump(exclude={"size_px", "epochs", "batch_size"}), device=device)
    from finegrain.generate.ddpm import DDPM

    c = cfg.ddpm
    return DDPM(
        num_classes,
        c.size_px,
        tuple(c.channels),
        c.attention,
        c.lr,
        c.epochs * steps_per_epoch(n_train, c.batch_size),
        c.train_timesteps,
        c.sample_steps,
        c.guidance,
        c.cond_drop,
        c.snr_gamma,
        c.ema_power,
        device=device,
    )


def _stack(split: ShardSplit) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack([split[i][0] for i in range(len(split))]), torch.as_tensor(split.labels.copy())


@torch.no_grad()
def sample_per_class(model, num_classes: int, per_class: int, seed: int, batch: int = 64):
    """(uint8 images at the generator's size on the CPU, labels): `per_class` images of every class, class-major."""
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    g = torch.Generator().manual_seed(seed)
    starts = progress(range(0, len(labels), batch), "sampling", unit="batch")
    images = torch.cat([to_uint8(model.sample(labels[i : i + batch], g)).cpu() for i in starts])
    return images, labels


def _subset_per_class(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Positions of up to n items taking classes in turn (round-robin), so small subsets stay balanced."""
    order = torch.argsort(labels, stable=True)
    rank = torch.empty_like(order)
    for c in labels.unique():
        members = order[labels[order] == c]
        rank[members] = torch.arange(len(members))
    return torch.argsort(rank * (int(labels.max()) + 1) + labels, stable=True)[:n]


def run_generate(
    params: Params, data_dir: Path, lite0_dir: Path, out_dir: Path, grids_dir: Path, live_dir: Path, ckpt_dir: Path
) -> dict:
    """Train every method of params.generate on `data_dir` (its input) and write its images and generators to
    `out_dir`, sample grids to `grids_dir`, dvclive losses to `live_dir`; resume states live in `ckpt_dir`; FID
    features come from the Lite0 weights in `lite0_dir`. Returns the metrics."""
    cfg = params.generate
    configure_threads(params.base.threads, params.base.numerics)
    device = resolve_device(params.base.device)
    seed = params.base.seed
    t_start = time.perf_counter()
    src = data_dir
    train_split, val_split = open_split(src, "train"), open_split(src, "val")
    class_names, size_px = train_split.class_names, train_split.size_px
    real_x, real_y = _stack(train_split)
    val_x, val_y = _stack(val_split)
    num_classes = len(class_names)

    seed_everything(seed)
    q, judge_px = cfg.quality, cfg.judge_size_px
    t0 = time.perf_counter()
    judge = train_reference_classifier(
        real_x, real_y, num_classes, judge_px, q.classifier_epochs, seed, q.classifier_lr, device
    )
    judge_val_acc = recognisability(judge, val_x, val_y, class_names, judge_px)["mean"]
    # every compared set (real train reference, real val floor, each method's images) has the same n images
    n = min(q.fid_images, len(real_x), len(val_x), cfg.per_class * num_classes)
    extractor = lite0_extractor(lite0_dir, q.fid_size_px, device)
    distances = DistributionDistances(extractor, real_x[_subset_per_class(real_y, n)], q.kid_subsets)
    reference = {
        "classifier_val_acc": judge_val_acc,
        "classifier_val_images": len(val_x),
        "judge_ok": checks.wilson(judge_val_acc * len(val_x), len(val_x))[0] >= checks.JUDGE_MIN_ACC,
        "judge_size_px": judge_px,
        "images": n,
        "kid_subset_size": distances.subset_size,
        "real_val_vs_train": distances(val_x[_subset_per_class(val_y, n)], seed),
        "time_s": round(time.perf_counter() - t0, 2),
    }
    floor = reference["real_val_vs_train"]
    log.info(
        "reference: judge real val acc %.3f; real val vs train (%d images): FID %.1f, KID %.4f +- %.4f",
        judge_val_acc,
        n,
        floor["fid"],
        floor["kid"],
        floor["kid_std"],
    )

    live = open_live(live_dir)
    metrics: dict = {"input": cfg.input, "reference": reference}
    with atomic_dir(out_dir) as out_root, atomic_dir(grids_dir) as grids:
        for method in cfg.methods:
            t0 = time.perf_counter()
            mcfg = getattr(cfg, method)
            seed_everything(seed)
            model = build_method(method, cfg, num_classes, len(real_x), device)
            x = resize_uint8(real_x, mcfg.size_px) * 2 - 1
            key = run_key({"method": method, "cfg": mcfg.model_dump(), "seed": seed}, [src / "index.parquet"])
            state_path = ckpt_dir / f"{method}-{key}.pt"

            def on_epoch(row: dict, method=method) -> None:
                log_metrics(live, row["epoch"], {f"{method}/{k}": v for k, v in row.items() if k.startswith("loss")})

            history = fit_generator(
                model,
                x,
                real_y,
                mcfg.epochs,
                mcfg.batch_size,
                seed,
                state_path,
                on_epoch,
                cfg.checkpoint_every,
                method,
                device,
            )
            train_time = time.perf_counter() - t0
            t1 = time.perf_counter()
            images, labels = sample_per_class(model, num_classes, cfg.per_class, seed + 1)
            sample_time = time.perf_counter() - t1
            t1 = time.perf_counter()
            recognised = recognisability(judge, images, labels, class_names, judge_px)
            zeros = [c for c, share in recognised["per_class"].items() if share == 0]
            found = checks.generator(  # what augmented variants carry
                method, recognised["mean"], len(images), judge_val_acc, len(val_x), zeros
            )
            write_generated(out_root / method, method, images, labels, class_names, size_px, {method: found.to_dict()})
            _save_generator(out_root / method, method, model, mcfg.model_dump(), class_names)
            save_grid(grids / f"{method}.png", images, labels, num_classes)
            metrics[method] = {
                "recognisability": recognised,
                "check": found.to_dict(),
                **distances(images[_subset_per_class(labels, n)], seed),
                "images": len(images),
                "final": {k: round(v, 5) for k, v in history[-1].items() if k.startswith("loss")},
                "train_time_s": round(train_time, 2),
                "sample_time_s": round(sample_time, 2),
                "quality_time_s": round(time.perf_counter() - t1, 2),
                "time_s": round(time.perf_counter() - t0, 2),
            }
            state_path.unlink(missing_ok=True)
            m = metrics[method]
            log.info(
                "%s: %s; FID %.1f, KID %.4f +- %.4f, %.1f s",
                method,
                m["check"]["figure"],
                m["fid"],
                m["kid"],
                m["kid_std"],
                m["time_s"],
            )
    live.end()
    metrics["time_s"] = round(time.perf_counter() - t_start, 2)
    metrics["device"] = str(next(judge.parameters()).device)  # where the models ran (the run record)
    return metrics


def _save_generator(out: Path, method: str, model, cfg: dict, class_names: list[str]) -> None:
    """DCGAN: out/generator.pt (the EMA generator's weights, config, class names). DDPM: diffusers folders
    out/unet (`UNet2DModel.from_pretrained`) and out/scheduler, plus out/generator.json (class names, the
    "no class" label and the sampling settings)."""
    if method == "ddpm":
        model.save_pretrained(out)
        info = {"method": method, "class_names": class_names, "null_class": len(class_names), "config": cfg}
        write_json(out / "generator.json", info)
        return
    buffer = io.BytesIO()
    torch.save({"method": method, "config": cfg, "class_names": class_names, "state": model.generator_state()}, buffer)
    (out / "generator.pt").write_bytes(buffer.getvalue())
