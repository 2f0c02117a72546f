"""Portable numerics (finegrain.numerics): the same bits whatever the CPU offers above AVX2 and however many cores it
has; native numerics follow the CPU. Each run is a fresh process, as a stage is (the settings are read at load)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata

import pytest
import torch

from finegrain import numerics
from finegrain.evaluate.batch import eval_batches
from finegrain.train.compute import Compute
from finegrain.train.config import TrainCfg

PROBE = """
import hashlib, sys
from finegrain import numerics
numerics.apply(sys.argv[1])
import numpy as np, scipy.linalg, torch
from finegrain.runtime import configure_threads
configure_threads(0, sys.argv[1])
torch.manual_seed(0)
out = []
for layout in (torch.contiguous_format, torch.channels_last):
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    net.to(memory_format=layout)
    x, y = torch.rand(16, 3, 32, 32).contiguous(memory_format=layout), torch.arange(16) % 10
    opt = torch.optim.AdamW(net.parameters(), 1e-2)
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    out += [p.detach().numpy().tobytes() for p in net.parameters()]
a = np.random.default_rng(0).random((64, 64))
out += [np.exp(a.astype(np.float32)).sum().tobytes(), scipy.linalg.sqrtm(a @ a.T).real.tobytes()]
print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads(), hashlib.sha256(b"".join(out)).hexdigest())
"""
LOWER = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "SSE4_2"}
"""Another machine simulated: an older instruction set everywhere it can be capped."""


def _probe(mode: str, env: dict | None = None, one_core: bool = False) -> tuple[str, int, str]:
    clean = {k: v for k, v in os.environ.items() if k not in numerics.PORTABLE_ENV and not k.startswith("FINEGRAIN_")}
    cmd = [sys.executable, "-c", PROBE, mode]
    if one_core:
        cmd = [shutil.which("taskset") or "taskset", "-c", "0", *cmd]
    result = subprocess.run(cmd, capture_output=True, text=True, env={**clean, **(env or {})}, check=True)
    capability, threads, digest = result.stdout.split()
    return capability, int(threads), digest


def test_portable_gives_the_same_bits_whatever_the_cpu_offers_and_its_core_count():
    reference = _probe("portable")
    assert reference[:2] == ("AVX2", numerics.REFERENCE_THREADS)
    assert _probe("portable", env=LOWER | {"OMP_NUM_THREADS": "1"}) == reference  # pinned over whatever was set
    assert _probe("portable", one_core=True) == reference  # one core: still the reference thread count


def test_native_follows_the_cpu_so_a_capped_instruction_set_simulates_another_machine():
    native = _probe("native")
    lower = _probe("native", env=LOWER)
    assert lower[0] == "DEFAULT" and native[0] != "DEFAULT"
    assert lower[2] != native[2]  # the simulation changes the bits: what portable numerics pins


def test_a_cache_key_tells_native_arithmetic_of_another_cap_apart_and_portable_keeps_one():
    """Cached features and resume states are keyed by `numerics.arithmetic`: a cache written by a capped native
    process (another machine simulated) must not be read as this one's bits; under portable the bits are the same."""
    code = "import sys; from finegrain import numerics; numerics.apply(sys.argv[1]); print(numerics.arithmetic())"
    clean = {k: v for k, v in os.environ.items() if k not in numerics.PORTABLE_ENV and not k.startswith("FINEGRAIN_")}

    def key(mode: str, env: dict | None = None) -> str:
        cmd = [sys.executable, "-c", code, mode]
        return subprocess.run(cmd, capture_output=True, text=True, env={**clean, **(env or {})}, check=True).stdout

    assert key("native") != key("native", LOWER) != key("native", {"MKL_CBWR": "SSE4_2"})
    assert key("portable") == key("portable", LOWER)


def test_the_mode_comes_from_the_environment_then_params(tmp_path, monkeypatch):
    params = tmp_path / "params.yaml"
    monkeypatch.delenv(numerics.MODE_ENV, raising=False)
    assert numerics.mode_of(params) == "portable"  # no params.yaml: the default (load_params reports it)
    params.write_text("base: {numerics: native}\n")
    assert numerics.mode_of(params) == "native"
    params.write_text("base: {numerics: fast}\n")
    assert numerics.mode_of(params) == "portable"  # invalid: validation says so in one line
    params.write_text("base:\n\tnumerics: native\n")
    assert numerics.mode_of(params) == "portable"  # malformed YAML (a tab): the same, no traceback at import
    monkeypatch.setenv(numerics.MODE_ENV, "native")
    params.write_text("base: {numerics: portable}\n")
    assert numerics.mode_of(params) == "native" and numerics.resolve("portable") == "native"


def test_portable_must_be_applied_before_torch_loads_and_is_checked(monkeypatch):
    with pytest.raises(RuntimeError, match="before torch"):
        numerics.apply("portable")  # this process imported torch long ago
    with pytest.raises(ValueError, match="expected one of"):
        numerics.apply("fast")
    monkeypatch.delenv(numerics.MODE_ENV, raising=False)
    monkeypatch.setenv(numerics.APPLIED_ENV, "native")
    assert "started without it" in numerics.check("portable")
    assert numerics.check("native") is None
    assert numerics.portable_threads(0, "portable") == numerics.REFERENCE_THREADS
    assert numerics.portable_threads(0, "native") == 0 and numerics.portable_threads(3, "portable") == 3


def test_no_timing_decides_a_layout_or_a_batch_under_portable(monkeypatch):
    cfg = TrainCfg(data="prepared", init="none", memory_format="auto", image_size_px=32)
    cpu = torch.device("cpu")
    monkeypatch.setenv(numerics.APPLIED_ENV, "portable")
    monkeypatch.setattr("finegrain.train.compute.choose", lambda *a: pytest.fail("probe ran under portable"))
    monkeypatch.setattr("finegrain.evaluate.batch.fastest_batch", lambda *a: pytest.fail("probe ran"))
    assert Compute.of(cfg, cpu).memory_format == torch.contiguous_format
    assert eval_batches("auto", torch.nn.Identity(), cfg, cpu, Compute(), 500) == (numerics.PORTABLE_EVAL_BATCH, 128)
    assert eval_batches(32, torch.nn.Identity(), cfg, cpu, Compute(), 500) == (32, 32)


def test_a_record_says_what_decided_the_bits():
    record = numerics.record()
    assert record["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert record["threads"] == torch.get_num_threads() and record["packages"]["torch"] == metadata.version("torch")
    assert set(numerics.PINNED_PACKAGES) == set(record["packages"])
    assert numerics.describe(record).startswith(f"{record['numerics']}, {record['cpu_capability']} kernels, ")
