"""`base.numerics`: `portable` (default) float arithmetic that gives the same bits on any x86-64 CPU with AVX2, or
`native`, the fastest this CPU has.

Why: a float sum's result depends on its order, and the order depends on the instruction set a kernel was picked
for (AVX-512 adds 16 lanes at a time, AVX2 8), on the thread count (each thread sums its share), on the tensor
layout and on the batch. Training amplifies a last-bit difference into a different model, so native figures made
on one CPU generation are not the figures of another.

Portable pins every choice a library makes from the CPU, before the library loads (each reads its variable once):

| what | variable | pinned to |
|---|---|---|
| ATen's vectorised kernels (torch) | ATEN_CPU_CAPABILITY | avx2 |
| oneDNN (convolutions) | ONEDNN_MAX_CPU_ISA | AVX2 |
| MKL (matmuls, linear layers) | MKL_CBWR | COMPATIBLE (vendor-independent; on AMD MKL ignores an AVX2 branch) |
| OpenBLAS (NumPy, SciPy: FID's matrix square root) | OPENBLAS_CORETYPE | Haswell |
| NumPy's SIMD loops | NPY_DISABLE_CPU_FEATURES | its AVX-512 groups off |
| OpenCV (mmdet's image ops) | OPENCV_CPU_DISABLE | AVX-512 off |

and, from params, what a timing would otherwise decide: torch threads (`base.threads`, 0 = `REFERENCE_THREADS`,
never the machine's core count), `train.memory_format: auto` (contiguous) and `evaluate.batch_size: auto`
(`PORTABLE_EVAL_BATCH`). CUDA and MPS arithmetic is not pinned (their kernels differ per GPU): there the gate is
statistical.

Not pinned, because no library exposes it: oneDNN and MKL pick some blockings (and MKL some code paths) from the
cache sizes and the vendor the CPU reports. Shown here: the same bits whatever the environment asked for above
AVX2, with one core or two (tests/test_numerics.py). Not shown: another vendor or cache hierarchy (the previous
figures, made natively on an AVX2 machine of unknown vendor, matched the detector's training loss under these caps,
but not its test IoU's 4th decimal); where bits differ, the gate is statistical.

A stage script applies the mode before its first import of torch (`finegrain/__init__.py`); its child processes
(torchrun ranks, DataLoader workers) inherit the environment.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

MODES = ("portable", "native")
MODE_ENV = "FINEGRAIN_NUMERICS"
"""Overrides `base.numerics` (e.g. to simulate another machine: native with a capped instruction set)."""
APPLIED_ENV = "FINEGRAIN_NUMERICS_APPLIED"
"""Set by `apply`: the mode this process (and its children) runs in."""
REFERENCE_THREADS = 2
"""Torch threads under portable numerics when `base.threads` is 0: the CI machine's cores, where the committed
figures are made. A machine with more cores runs at this count (or faster with `native`)."""
PORTABLE_EVAL_BATCH = 64
"""`evaluate.batch_size: auto` under portable numerics: a batch changes some kernels' summation order."""
PORTABLE_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "DNNL_MAX_CPU_ISA": "AVX2",  # oneDNN's older name for the same setting
    "MKL_CBWR": "COMPATIBLE",
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # NumPy 2's dispatched groups above AVX2
    "OPENCV_CPU_DISABLE": "AVX512-SKX",
}
PINNED_PACKAGES = (
    "torch", "torchvision", "mmcv", "mmdet", "mmengine", "numpy", "scipy", "pillow", "opencv-python", "timm",
    "diffusers", "lightly",
)  # fmt: skip
"""Packages whose versions decide the bits (their kernels and defaults): part of a run's record."""


def mode_of(params_file: Path = Path("params.yaml")) -> str:
    """The numerics mode a stage runs in: $FINEGRAIN_NUMERICS, else params.yaml's `base.numerics`, else portable.
    Read before the params are validated (they load torch-free, but later): an invalid value is reported then."""
    if MODE_ENV in os.environ:
        return os.environ[MODE_ENV]
    import yaml

    from finegrain.strict_yaml import safe_load_unique  # safe_load, parsed by libyaml when it can

    try:
        base = (safe_load_unique(params_file.read_text()) or {}).get("base") or {}
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return "portable"  # unreadable or malformed params: load_params reports it in one line
    value = base.get("numerics", "portable") if isinstance(base, dict) else "portable"
    return value if value in MODES else "portable"


def apply(mode: str) -> None:
    """Set the environment of `mode` for this process and its children; call it before torch, NumPy or OpenCV
    load (each reads its variable once: afterwards it would change nothing)."""
    if mode not in MODES:
        raise ValueError(f"numerics: expected one of {MODES} (got {mode!r})")
    loaded = [m for m in ("torch", "numpy", "cv2") if m in sys.modules]
    if mode == "portable":
        if loaded:
            raise RuntimeError(f"numerics: portable must be applied before {', '.join(loaded)} is imported")
        os.environ.update(PORTABLE_ENV)
    os.environ[APPLIED_ENV] = mode


def applied() -> str:
    """The mode `apply` set for this process (inherited by child processes), 'native' when none was applied."""
    return os.environ.get(APPLIED_ENV, "native")


def resolve(mode: str) -> str:
    """The mode in effect for params' `base.numerics` = `mode`: $FINEGRAIN_NUMERICS wins."""
    return os.environ.get(MODE_ENV, mode)


def check(mode: str) -> str | None:
    """Why this process does not run in `mode` (params' `base.numerics`), or None. Call it after torch loaded."""
    import torch

    if resolve(mode) == "native":
        return None
    if applied() != "portable":
        return (
            "base.numerics is portable but this process was started without it (a stage script applies it before "
            "importing torch; python -c or a notebook: call finegrain.numerics.apply('portable') first)"
        )
    capability = torch.backends.cpu.get_cpu_capability()
    if platform.machine() in ("x86_64", "AMD64") and capability != "AVX2":
        return f"base.numerics portable: torch runs {capability} kernels, not AVX2 (this CPU lacks AVX2?)"
    return None


def portable_threads(threads: int, mode: str) -> int:
    """Torch threads for `base.threads` = `threads` under `mode`: 0 is REFERENCE_THREADS under portable and torch's
    default (0: leave it) under native."""
    return REFERENCE_THREADS if threads == 0 and resolve(mode) == "portable" else threads


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_id() -> str:
    """The CPU's vendor, family and model numbers (/proc/cpuinfo on Linux; a virtual machine's model name may hide
    its generation, these numbers do not), else what `platform` knows."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    if "vendor_id" in fields:
        return f"{fields['vendor_id']} family {fields.get('cpu family', '?')} model {fields.get('model', '?')}"
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def record() -> dict:
    """What decides this process's bits: numerics mode, CPU, torch's kernel level, threads, package versions."""
    import torch

    return {
        "numerics": applied(),
        "cpu": cpu_model(),
        "cpu_id": cpu_id(),
        "arch": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "packages": {p: _version(p) for p in PINNED_PACKAGES},
    }


ARITHMETIC_ENV = (
    "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS",
    "OPENBLAS_CORETYPE",
)  # fmt: skip
"""Variables that change a native process's kernels (portable pins them)."""


def arithmetic() -> str:
    """This process's float arithmetic as a cache key (cached features, resume states): `portable` and the threads;
    under native also the CPU model, torch's kernel level and any instruction-set variable, so a cache written
    under another CPU or another cap is not read as this one's bits."""
    import torch

    key = f"{applied()} {torch.get_num_threads()} threads"
    if applied() == "portable":
        return key
    caps = " ".join(f"{v}={os.environ[v]}" for v in ARITHMETIC_ENV if v in os.environ)
    return f"{key} {cpu_id()} {torch.backends.cpu.get_cpu_capability()} {caps}".rstrip()


def write_record(path: Path) -> None:
    """Write this process's `record` to `path` (metrics/numerics/<stage>.json: committed beside the metrics, so a
    gate on another machine knows what made the baseline; not a DVC metric)."""
    from finegrain.atomic import write_json

    write_json(path, record())


def bit_compatible(a: dict, b: dict) -> bool:
    """Whether two runs' records (`record`) promise the same bits: both portable on x86-64 at AVX2 with the same
    threads and package versions (the CPU model may differ; `same_cpu` says whether it does)."""
    keys = ("numerics", "arch", "cpu_capability", "threads", "packages")
    return all(r.get("numerics") == "portable" and r.get("cpu_capability") == "AVX2" for r in (a, b)) and all(
        a.get(k) == b.get(k) for k in keys
    )


def same_cpu(a: dict, b: dict) -> bool:
    """Whether two records come from the same CPU model (vendor, family, model), where portable bits must match."""
    return bool(a.get("cpu_id")) and a.get("cpu_id") == b.get("cpu_id")


def describe(r: dict) -> str:
    """One line: 'portable, AVX2 kernels, 2 threads, AMD EPYC 9R14 (x86_64), torch 2.14.1, mmcv 2.1.0'."""
    packages, threads = r.get("packages", {}), r.get("threads", "?")
    plural = "" if threads == 1 else "s"
    return (
        f"{r.get('numerics', '?')}, {r.get('cpu_capability', '?')} kernels, {threads} thread{plural}, "
        f"{r.get('cpu', '?')} ({r.get('cpu_id', r.get('arch', '?'))}), torch {packages.get('torch', '?')}, "
        f"mmcv {packages.get('mmcv', '?')}"
    )
