"""How a model runs on its device: tensor layout, autocast and compilation (`train.memory_format`, `train.precision`,
`train.compile`).

`precision: auto` follows the device, with no probe: fp32 on CPU, always (bf16 changes the numbers, an 8-bit mantissa
in the convolutions, and a default whose results depended on a timing would make the same params give different
metrics; `bench/fit.py` prints what `precision: bf16` would gain); on CUDA the field's default (timm's train.py
`--amp`, torchvision's reference scripts): bf16 autocast where the GPU has bf16 units (`torch.cuda.is_bf16_supported`),
else fp16 autocast with a GradScaler. Other devices (MPS): fp32. `memory_format: auto` is contiguous on the CPU
under portable numerics (`finegrain.numerics`: no figure depends on a timing); otherwise it is decided by a short
measured probe per (machine, device, model, image size, batch, train or inference): a few steps on random tensors in
each layout (at the run's precision), cached on disk in ~/.cache/finegrain/compute.json (`$XDG_CACHE_HOME` honoured;
outside the project, so no DVC output or dependency). The probe runs under a forked RNG: it never changes the random
draws of the run that asks. channels_last is chosen when it is at least `LAYOUT_MARGIN` faster than contiguous (so
noise on a shared machine does not flip it). A layout changes only the float summation order (results agree to ~1e-4,
not bit for bit).

`compile: true` wraps the training module in `torch.compile` (default backend inductor; the weights stay the
model's own tensors, so state dicts and checkpoints are unchanged).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from finegrain import numerics
from finegrain.atomic import write_json
from finegrain.errors import ConfigError

log = logging.getLogger(__name__)

LAYOUT_MARGIN = 1.10
BF16_MARGIN = 1.30
PROBE_VERSION = 1
"""Bump when the probe measures differently: older cached choices are ignored."""
CUDA_PROBE_VERSION = 2
"""CUDA probes also measure fp16 (v2); in CUDA keys only, so the CPU cache (and CPU choices) stay as they were."""
LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Compute:
    """The resolved layout and autocast of a training step or an inference pass."""

    memory_format: torch.memory_format = torch.contiguous_format
    autocast: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None
    compile_backend: str | None = None
    """torch.compile backend of the training module (`train.compile`), None = eager."""

    @property
    def label(self) -> str:
        fmt = next(k for k, v in LAYOUTS.items() if v == self.memory_format)
        return f"{fmt} {next(k for k, v in DTYPES.items() if v == self.autocast)}"

    @classmethod
    def of(cls, cfg, device: torch.device, train: bool = True) -> Compute:
        """From a TrainCfg-like `cfg` (memory_format, precision, model, image_size_px, batch_size, model_args,
        mods, compile); `precision: auto` by the device (module doc), `memory_format: auto` by the probe (`train`:
        the training step, else inference). `compile` applies to training only."""
        if cfg.precision == "fp16" and device.type != "cuda":
            raise ConfigError(f"train.precision: fp16 needs a CUDA device (got {device}); use bf16 or fp32")
        precision = auto_precision(device) if cfg.precision == "auto" else cfg.precision
        fmt = cfg.memory_format
        if fmt == "auto" and device.type == "cpu" and numerics.applied() == "portable":
            fmt = "contiguous"  # a layout changes the bits: under portable numerics no timing decides it
        if fmt == "auto":
            fmt, precision = choose(Probe.of(cfg, device, train), fmt, precision)
        scaler = torch.amp.GradScaler(device.type) if precision == "fp16" and train else None
        backend = COMPILE_BACKEND if train and getattr(cfg, "compile", False) else None
        return cls(LAYOUTS[fmt], DTYPES[precision], scaler, backend)

    def compiled(self, net: nn.Module) -> nn.Module:
        """`net` under torch.compile when `compile_backend` is set, else `net` itself (sharing its parameters)."""
        return net if self.compile_backend is None else torch.compile(net, backend=self.compile_backend)

    def autocast_context(self, device: torch.device):
        return torch.autocast(device.type, dtype=self.autocast, enabled=self.autocast is not None)

    @contextlib.contextmanager
    def inference(self, net: nn.Module, device: torch.device) -> Iterator[nn.Module]:
        """`net` in this layout (back to contiguous on exit) as a module that runs it under this autocast with float32
        outputs, for code that only calls a model (predict, attacks, Grad-CAM); `net` itself when fp32 contiguous."""
        if self.autocast is None and self.memory_format == torch.contiguous_format:
            yield net
            return
        net.to(memory_format=self.memory_format)
        try:
            yield _Autocast(net, self, device)
        finally:
            net.to(memory_format=torch.contiguous_format)


class _Autocast(nn.Module):
    """`net` run in a Compute's input layout and autocast, its output as float32; `net` stays reachable as `.net`'s
    owner: attributes it lacks are looked up on `net` (e.g. a Classifier's `.net` for Grad-CAM's target layer)."""

    def __init__(self, net: nn.Module, compute: Compute, device: torch.device) -> None:
        super().__init__()
        self.inner, self.compute, self.device = net, compute, device

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("inner"), name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:
            x = x.contiguous(memory_format=self.compute.memory_format)
        with self.compute.autocast_context(self.device):
            out = self.inner(x)
        return out.float()


FP32 = Compute()
COMPILE_BACKEND = "inductor"
"""torch.compile's default backend (what timm's --torchcompile uses); tests on CPU may set a faster-compiling one."""


def auto_precision(device: torch.device) -> str:
    """`precision: auto` on `device`: the one device check of this module (see the module doc)."""
    if device.type == "cuda":  # CUDA-only branch
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


@dataclass(frozen=True)
class Probe:
    """What a probe measures: a model (by name and builder options) at a size and batch, training or inference."""

    model: str
    size: int
    batch: int
    device: str
    train: bool = True
    model_args: str = "{}"
    mods: str = "{}"

    @classmethod
    def of(cls, cfg, device: torch.device, train: bool = True) -> Probe:
        args, mods = (json.dumps(getattr(cfg, k, {}) or {}, sort_keys=True) for k in ("model_args", "mods"))
        return cls(cfg.model, cfg.image_size_px, cfg.batch_size, device.type, train, args, mods)

    def key(self) -> str:
        machine = f"{platform.node()}|{platform.processor() or platform.machine()}|{torch.__version__}"
        threads = torch.get_num_threads() if self.device == "cpu" else 0
        version = PROBE_VERSION if self.device == "cpu" else [PROBE_VERSION, CUDA_PROBE_VERSION]
        text = json.dumps([version, machine, threads, *self.__dict__.values()])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "finegrain" / "compute.json"


def _read_cache() -> dict:
    try:
        return json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}


def cached(key: str, measure: Callable[[], dict], **about) -> dict:
    """The cache's entry `key` (a dict), else `measure()`'s, stored with `about` (what was measured) and the thread
    count; a cache that cannot be written is measured again next time."""
    entry = _read_cache().get(key)
    if entry is not None:
        return entry
    entry = {**about, **measure(), "threads": torch.get_num_threads()}
    cache = _read_cache()  # another process may have added entries meanwhile
    cache[key] = entry
    try:
        cache_path().parent.mkdir(parents=True, exist_ok=True)
        write_json(cache_path(), cache)
    except OSError as err:  # a read-only home: measure again next time
        log.warning("compute probe: cannot cache in %s (%s)", cache_path(), err)
    return entry


def measured(probe: Probe) -> dict[str, float]:
    """{'<layout> <precision>': images/s} of `probe`, from the cache or measured now (and cached)."""

    def measure() -> dict:
        t0 = time.perf_counter()
        rates = _measure(probe)
        log.info("compute probe: %s at %d px measured in %.1fs: %s", probe.model, probe.size,
                 time.perf_counter() - t0, ", ".join(f"{k} {v:.1f} img/s" for k, v in rates.items()))  # fmt: skip
        return {"rates": rates}

    return cached(probe.key(), measure, probe=probe.__dict__)["rates"]


def choose(probe: Probe, fmt: str, precision: str) -> tuple[str, str]:
    """The layout and precision for `probe`: given values kept, `auto` precision by the device (`auto_precision`),
    `auto` layout from the measured rates at that precision (channels_last when >= LAYOUT_MARGIN faster)."""
    rates = measured(probe)
    if precision == "auto":
        precision = auto_precision(torch.device(probe.device))

    def rate(layout: str) -> float:
        return rates.get(f"{layout} {precision}", 0.0)

    if fmt == "auto":
        fmt = "channels_last" if rate("channels_last") >= LAYOUT_MARGIN * rate("contiguous") > 0 else "contiguous"
    if precision == "fp32" and rates.get(f"{fmt} bf16", 0.0) >= BF16_MARGIN * rate(fmt) > 0:
        gain = rates[f"{fmt} bf16"] / rate(fmt)
        log.info("compute: bf16 autocast would be %.2fx faster here (changes results: set precision: bf16)", gain)
    log.info(
        "compute: %s %s for %s at %d px (%s; %s)",
        fmt,
        precision,
        probe.model,
        probe.size,
        "training" if probe.train else "inference",
        ", ".join(f"{k} {v:.1f}" for k, v in rates.items()) + " img/s",
    )
    return fmt, precision


def _measure(probe: Probe, steps: int = 2) -> dict[str, float]:
    """Images/s of each layout x precision: the best of `steps` timed steps after a warm-up step."""
    from finegrain.models.factory import create_model

    device = torch.device(probe.device)
    if device.type == "cuda":  # CUDA-only branch: fp16 (with bf16 where supported) is what `auto` may pick there
        precisions = ["fp32", "fp16"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
    else:
        precisions = ["fp32", "bf16"] if torch.ops.mkldnn._is_mkldnn_bf16_supported() else ["fp32"]
    batch = min(probe.batch, 8)  # Lite0 at 224 px on 1 CPU thread: ~20 s for the four rows
    rates: dict[str, float] = {}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        net = create_model(probe.model, 10, model_args=json.loads(probe.model_args), mods=json.loads(probe.mods))
        net.to(device).train(probe.train)
        opt = torch.optim.SGD(net.parameters(), lr=1e-6)
        x = torch.rand(batch, 3, probe.size, probe.size, device=device)
        y = torch.arange(batch, device=device) % 10
        for fmt, layout in LAYOUTS.items():
            net.to(memory_format=layout)
            xs = x.contiguous(memory_format=layout)
            for precision in precisions:
                compute = Compute(layout, DTYPES[precision])
                best = float("inf")
                try:
                    for i in range(steps + 1):
                        t0 = time.perf_counter()
                        _step(net, xs, y, opt if probe.train else None, compute, device)
                        if device.type == "cuda":
                            torch.cuda.synchronize()
                        if i:
                            best = min(best, time.perf_counter() - t0)
                except (RuntimeError, NotImplementedError) as err:  # e.g. an op without a bf16 kernel: not a choice
                    log.info("compute probe: %s %s %s fails (%s)", probe.model, fmt, precision, str(err)[:120])
                rates[f"{fmt} {precision}"] = round(batch / best, 2)
    return rates


def _step(net, x, y, opt, compute: Compute, device: torch.device) -> None:
    if opt is None:
        with torch.inference_mode(), compute.autocast_context(device):
            net(x)
        return
    with compute.autocast_context(device):
        loss = nn.functional.cross_entropy(net(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()


def probe_table(models: list[tuple[str, int]] | None = None) -> str:
    """A markdown table of the cached probes on this machine (what `auto` chose from), of `models` ((name, px))
    only when given."""
    lines = ["| model | px | batch | pass | device | rates (img/s) | auto picks |", "|---|---:|---:|---|---|---|---|"]
    cache = _read_cache()
    for entry in cache.values():
        if "rates" not in entry:
            continue  # another kind of probe (evaluate.batch's)
        p = Probe(**entry["probe"])
        rates = entry["rates"]
        if p.key() not in cache or (models is not None and (p.model, p.size) not in models):
            continue  # another machine, thread count or torch; another model
        fmt, precision = choose(p, "auto", "auto")
        text = ", ".join(f"{k} {v:.1f}" for k, v in rates.items())
        pass_ = "train" if p.train else "infer"
        lines.append(f"| {p.model} | {p.size} | {p.batch} | {pass_} | {p.device} | {text} | {fmt} {precision} |")
    return "\n".join(lines)
