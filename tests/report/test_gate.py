"""The gate (finegrain.report.gate): bit for bit where the numerics match, statistical always, and what it says."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from conftest import dvc, run
from scipy import stats as sps

from finegrain import numerics, paths
from finegrain.params import Params
from finegrain.report import gate

VARIANTS = {v: {"data": "prepared", "init": "none"} for v in ("a", "b", "one")}


def _metrics(top1: float, std: float, seeds: int) -> dict:
    test = {"top1": top1, "majority_top1": 0.1} | ({"top1_std": std} if seeds > 1 else {})
    return {"test": test, "seeds": seeds}


def test_one_sided_welch_p_equals_scipys():
    old, new = [0.80, 0.84, 0.78], [0.70, 0.76, 0.69]
    mean_std = [(sum(x) / 3, float(sps.tstd(x))) for x in (old, new)]
    p = gate.p_drop(gate.Side(*mean_std[0], 3), gate.Side(*mean_std[1], 3))
    ref = sps.ttest_ind(old, new, equal_var=False, alternative="greater").pvalue
    assert p == pytest.approx(ref, rel=1e-9)


def test_a_drop_within_the_seeds_spread_passes_and_one_beyond_it_fails():
    params = Params(variants=VARIANTS)
    old = {"a": _metrics(0.80, 0.03, 3), "b": _metrics(0.80, 0.03, 3)}
    new = {"a": _metrics(0.60, 0.03, 3), "b": _metrics(0.77, 0.03, 3)}  # a: 0.20 drop, b: 0.03 (one std)
    verdicts = {v.variant: v for v in gate.judge(params, old, new)}
    assert verdicts["a"].regression and verdicts["a"].p_holm < 0.05
    assert not verdicts["b"].regression and verdicts["b"].p_holm > 0.05
    assert "Welch one-sided" in verdicts["a"].rule and "Holm" in verdicts["a"].rule


def test_a_tiny_drop_never_fails_whatever_its_p_and_one_seed_is_judged_by_the_tolerance():
    params = Params(variants=VARIANTS, gate={"min_drop": 0.01, "tolerance": 0.04})
    old = {"a": _metrics(0.800, 0.0001, 3), "one": _metrics(0.80, 0, 1), "b": _metrics(0.8, 0.01, 3)}
    new = {"a": _metrics(0.795, 0.0001, 3), "one": _metrics(0.75, 0, 1), "b": _metrics(0.8, 0.01, 3)}
    verdicts = {v.variant: v for v in gate.judge(params, old, new)}
    assert verdicts["a"].p < 1e-6 and not verdicts["a"].regression  # significant but below min_drop
    assert verdicts["one"].p is None and verdicts["one"].regression and "tolerance 0.04" in verdicts["one"].rule


def test_holm_counts_every_gated_variant():
    """Three variants each dropping with raw p ~0.02: alone each would fail at 0.05; Holm over three keeps them."""
    params = Params(variants=VARIANTS | {"c": VARIANTS["a"]})
    old = {v: _metrics(0.80, 0.03, 3) for v in ("a", "b", "c")}
    new = {v: _metrics(0.735, 0.03, 3) for v in ("a", "b", "c")}
    verdicts = gate.judge(params, old, new)
    assert all(0.01 < v.p < 0.05 for v in verdicts)
    assert not any(v.regression for v in verdicts)


def _record(**kw) -> dict:
    base = {"numerics": "portable", "cpu": "CPU A", "cpu_id": "AuthenticAMD family 25 model 17", "arch": "x86_64"}
    base |= {"cpu_capability": "AVX2", "threads": 2}
    return base | {"packages": {"torch": "2.14.1", "mmcv": "2.1.0"}} | kw


def test_bit_compatibility_ignores_the_cpu_model_but_not_threads_versions_or_native():
    a = _record()
    assert numerics.bit_compatible(a, _record(cpu="CPU B with AVX-512"))
    assert not numerics.bit_compatible(a, _record(threads=4))
    assert not numerics.bit_compatible(a, _record(packages={"torch": "2.15.0", "mmcv": "2.1.0"}))
    assert not numerics.bit_compatible(a, _record(numerics="native", cpu_capability="AVX512"))
    assert not numerics.bit_compatible(_record(cpu_capability="DEFAULT"), _record(cpu_capability="DEFAULT"))


def _lock(md5: str, dep: str = "d1") -> str:
    stage = {"cmd": "python stages/crop.py", "deps": [{"path": "stages/crop.py", "md5": dep}], "params": {}}
    stage["outs"] = [{"path": "metrics/crop.json", "md5": md5}, {"path": "metrics/numerics/crop.json", "md5": "x"}]
    return yaml.safe_dump({"schema": "2.0", "stages": {"crop": stage}})


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(["git", "init", "-q"], tmp_path)
    (tmp_path / "dvc.lock").write_text(_lock("m1"))
    paths.NUMERICS.mkdir(parents=True)
    (paths.NUMERICS / "crop.json").write_text(json.dumps(_record()))
    run(["git", "add", "-A"], tmp_path)
    run(["git", "commit", "-q", "-m", "baseline"], tmp_path)
    return tmp_path


def test_an_unchanged_stage_with_compatible_numerics_must_give_the_same_metrics(repo):
    base, runs = gate.numerics_records("HEAD"), gate.numerics_records(None)
    assert base == runs == {"crop": _record()}
    assert gate.not_reproduced("HEAD", base, runs) == (["crop"], [], [])
    (repo / "dvc.lock").write_text(_lock("m2"))  # same code, data, params; other metrics
    compared, problems, notes = gate.not_reproduced("HEAD", base, runs)
    assert (
        compared == ["crop"]
        and notes == []
        and problems == ["crop: metrics/crop.json differs from HEAD's though code, data, params and numerics match"]
    )
    other_cpu = {"crop": _record(cpu_id="GenuineIntel family 6 model 143")}  # portable on another CPU model
    compared, problems, notes = gate.not_reproduced("HEAD", base, other_cpu)
    assert compared == ["crop"] and problems == []
    expected = "on another CPU (GenuineIntel family 6 model 143 vs AuthenticAMD family 25 model 17): portable"
    assert notes == [
        f"crop: metrics/crop.json differs from HEAD's {expected} numerics did not give the same bits there"
    ]


def test_a_changed_stage_or_other_numerics_is_not_compared_bit_for_bit(repo):
    (repo / "dvc.lock").write_text(_lock("m2", dep="d2"))  # the code changed: the metrics may
    assert gate.not_reproduced("HEAD", gate.numerics_records("HEAD"), gate.numerics_records(None)) == ([], [], [])
    (repo / "dvc.lock").write_text(_lock("m2"))
    native = {"crop": _record(numerics="native", cpu_capability="AVX512")}  # another machine under native
    assert gate.not_reproduced("HEAD", gate.numerics_records("HEAD"), native) == ([], [], [])


def test_the_markdown_summary_says_what_was_compared_and_each_verdict():
    params = Params(variants=VARIANTS)
    verdicts = gate.judge(params, {"a": _metrics(0.8, 0.03, 3)}, {"a": _metrics(0.6, 0.03, 3)})
    text = gate.markdown(params, ["baseline HEAD: x", "this run: y"], ["a: regression"], verdicts, "| diff |")
    assert text.startswith("## finegrain gate: ❌ gate failed")
    assert "- baseline HEAD: x" in text and "| a | 0.8000 ± 0.0300 (n=3) | 0.6000 ± 0.0300 (n=3) | +0.2000 |" in text
    assert "<details><summary>dvc metrics diff</summary>" in text and "| diff |" in text


@pytest.mark.slow
def test_gate_on_the_tiny_pipeline_compares_bit_for_bit_and_writes_the_summary(tiny_project, tmp_path):
    """A clone of the reproduced tiny project, reproduced again here: the same bits, so every stage compares (under
    native numerics, e.g. the suite run on a simulated machine, no stage is bit-compatible: the gate says so)."""
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(tiny_project), str(clone)], tmp_path)
    dvc(clone, "config", "--local", "cache.dir", str(tiny_project / ".dvc" / "cache"))
    dvc(clone, "checkout")
    summary = tmp_path / "summary.md"
    result = run([sys.executable, "-m", "finegrain", "gate", "--summary", str(summary)], clone, check=False)
    out = result.stdout + result.stderr
    assert summary.read_text().startswith("## finegrain gate:")
    records = json.loads((clone / "metrics" / "numerics" / "crop.json").read_text())
    if numerics.applied() == "portable":
        assert "gate: baseline HEAD: portable, AVX2 kernels, 1 thread," in out, out
        assert "stage(s) unchanged with bit-compatible numerics must match HEAD exactly" in out, out
        assert records["numerics"] == "portable" and records["cpu_capability"] == "AVX2"
    else:
        assert "gate: baseline HEAD: native, " in out and "bit for bit: no stage (numerics not bit-compatible" in out
        assert records["numerics"] == "native", out  # (the tiny run's checks fail the gate either way: too small)
    assert subprocess.run(["git", "diff", "--quiet", "metrics"], cwd=clone).returncode == 0
