"""The CI gate (`finegrain gate`): compare this run's metrics with a revision's (the committed baseline) and fail on a
regression, on a figure that did not reproduce, or on a figure that means nothing (finegrain.checks).

It makes two comparisons and says which:

- **bit for bit**, per stage, where the baseline's stage and this run's ran with bit-compatible numerics
  (`finegrain.numerics.bit_compatible`: both portable, AVX2 kernels, the same threads and package versions): a stage
  whose dvc.lock entry (code, data, params) is unchanged must give the baseline's metrics exactly. On the same CPU
  model a difference fails as "not reproduced" (something depends on more than the numerics); across CPU models it
  is reported, not failed (oneDNN and MKL choose some blockings from a CPU's caches and vendor, which no setting
  pins: that portability is measured here, not promised), and the statistical rule decides.
- **statistical**, always, for `gate.metric`: a drop is a regression when a one-sided Welch t test over the two
  runs' seeds rejects "no drop" at `gate.alpha` after Holm's correction over the gated variants, and the drop is at
  least `gate.min_drop`. Seeds are the runs' spread; with one seed on either side there is none, and the drop fails
  beyond `gate.tolerance`. This is what judges a run whose bits cannot match (ARM, CUDA, another torch).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from scipy import stats as sps

from finegrain import checks, numerics, paths
from finegrain.params import Params
from finegrain.pipeline import needed_stages
from finegrain.report.contrasts import holm


@dataclass(frozen=True)
class Side:
    """A variant's gated metric in one run: mean, sample std over seeds (0 with one seed), seeds."""

    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.std:.4f} (n={self.n})" if self.n > 1 else f"{self.mean:.4f} (n=1)"


@dataclass(frozen=True)
class Verdict:
    """The statistical comparison of one variant: its sides, the drop and why it is or is not a regression."""

    variant: str
    old: Side
    new: Side
    p: float | None  # one-sided Welch p of "no drop" (None: one seed, judged by the tolerance)
    p_holm: float | None
    regression: bool
    rule: str

    @property
    def drop(self) -> float:
        return self.old.mean - self.new.mean


def side(metrics: dict, metric: str) -> Side | None:
    """`metric` (dotted, e.g. test.top1) of a variant's metrics, with its `<leaf>_std` and the variant's seeds."""
    *groups, leaf = metric.split(".")
    node = metrics
    for g in groups:
        node = node.get(g, {}) if isinstance(node, dict) else {}
    if not isinstance(node, dict) or leaf not in node:
        return None
    n = int(metrics.get("seeds", 1))
    return Side(float(node[leaf]), float(node.get(f"{leaf}_std", 0.0)) if n > 1 else 0.0, n)


def p_drop(old: Side, new: Side) -> float:
    """One-sided Welch t test p-value of H0 "new >= old" (no drop); both sides need >= 2 seeds."""
    var = old.std**2 / old.n + new.std**2 / new.n
    drop = old.mean - new.mean
    if var == 0:
        return 0.0 if drop > 0 else 1.0
    df = var**2 / ((old.std**2 / old.n) ** 2 / (old.n - 1) + (new.std**2 / new.n) ** 2 / (new.n - 1))
    return float(sps.t.sf(drop / math.sqrt(var), df))


def judge(params: Params, old: dict[str, dict], new: dict[str, dict]) -> list[Verdict]:
    """Each variant present on both sides, judged by the module's statistical rule."""
    gate, sides = params.gate, {}
    for name in params.variants:
        a = side(old.get(name, {}), gate.metric)
        b = side(new.get(name, {}), gate.metric)
        if a is not None and b is not None:
            sides[name] = (a, b)
    tested = [n for n, (a, b) in sides.items() if a.n > 1 and b.n > 1]
    ps = {n: p_drop(*sides[n]) for n in tested}
    adjusted = dict(zip(tested, holm([ps[n] for n in tested]), strict=True))
    verdicts = []
    for name, (a, b) in sides.items():
        drop = a.mean - b.mean
        if name in ps:
            bad = adjusted[name] < gate.alpha and drop >= gate.min_drop
            rule = (
                f"Welch one-sided p {ps[name]:.3g}, Holm {adjusted[name]:.3g} "
                f"{'<' if adjusted[name] < gate.alpha else '>='} {gate.alpha}; drop {drop:+.4f} "
                f"{'>=' if drop >= gate.min_drop else '<'} min {gate.min_drop}"
            )
            verdicts.append(Verdict(name, a, b, ps[name], adjusted[name], bad, rule))
        else:
            bad = drop > gate.tolerance
            rule = f"one seed: no spread; drop {drop:+.4f} {'>' if bad else '<='} tolerance {gate.tolerance}"
            verdicts.append(Verdict(name, a, b, None, None, bad, rule))
    return verdicts


def _stage_checks(record: dict, where: str) -> list[tuple[str, dict]]:
    """Every `check` entry (finegrain.checks) anywhere in a stage's metrics, with where it was found."""
    found = []
    for key, value in record.items():
        if key == "check" and isinstance(value, dict) and "works" in value:
            found.append((where, value))
        elif isinstance(value, dict):
            found += _stage_checks(value, f"{where}.{key}")
    return found


def unmet_checks(params: Params, metrics_dir: Path = paths.METRICS) -> list[str]:
    """One message per check that does not pass: each variant learned, and every technique check its stages
    recorded ("not shown" fails too: the default run must show each technique with margin)."""
    problems = []
    for name in params.variants:
        path = paths.variant_metrics(name, metrics_dir / paths.VARIANT_METRICS.name)
        found = checks.learned(json.loads(path.read_text())["test"])
        if not found.works:
            problems.append(f"{name}: learned nothing: {found.figure}")
    for stage in ("crop", "generate", "pretrain"):
        path = metrics_dir / f"{stage}.json"
        if path.is_file() and stage in needed_stages(params):  # else another run's file: no variant reads it
            for where, check in _stage_checks(json.loads(path.read_text()), f"metrics/{stage}.json"):
                if not check["works"]:
                    outcome = check.get("outcome", "does not work").replace("_", " ")
                    problems.append(f"{where}: {check['technique']} {outcome}: {check['figure']}")
    return problems


def _git(*args: str) -> str | None:
    result = subprocess.run(["git", *args], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def _at_rev(rev: str, path: Path) -> str | None:
    return _git("show", f"{rev}:{path.as_posix()}")


def _variant_metrics(params: Params, rev: str | None) -> dict[str, dict]:
    out = {}
    for name in params.variants:
        path = paths.variant_metrics(name)
        text = _at_rev(rev, path) if rev else (path.read_text() if path.is_file() else None)
        if text:
            out[name] = json.loads(text)
    return out


def numerics_records(rev: str | None) -> dict[str, dict]:
    """{stage (dvc.lock name, e.g. crop, train@cnn): its numerics record} at `rev`, or in the workspace (None)."""
    root = paths.NUMERICS
    if rev:
        listing = _git("ls-tree", "-r", "--name-only", rev, root.as_posix()) or ""
        files = [Path(line) for line in listing.splitlines() if line.endswith(".json")]
    else:
        files = sorted(root.rglob("*.json")) if root.is_dir() else []
    records = {}
    for f in files:
        rel = f.relative_to(root).with_suffix("")
        name = "@".join(rel.parts)  # train/cnn -> train@cnn
        text = _at_rev(rev, f) if rev else f.read_text()
        if text:
            records[name] = json.loads(text)
    return records


def _lock_entries(text: str | None) -> dict[str, tuple[str, dict[str, str]]]:
    """{stage: (signature of its deps and params, {metrics path: md5})} of a dvc.lock."""
    stages = (yaml.safe_load(text) or {}).get("stages", {}) if text else {}
    out = {}
    for name, entry in stages.items():
        deps = sorted((d["path"], d.get("md5", "")) for d in entry.get("deps", []))
        signature = json.dumps([entry.get("cmd"), deps, entry.get("params", {})], sort_keys=True)
        outs = {o["path"]: o.get("md5", "") for o in entry.get("outs", []) if o["path"].startswith("metrics/")}
        outs = {p: m for p, m in outs.items() if not p.startswith(paths.NUMERICS.as_posix())}
        out[name] = (signature, outs)
    return out


def not_reproduced(rev: str, base: dict[str, dict], run: dict[str, dict]) -> tuple[list[str], list[str], list[str]]:
    """(stages compared bit for bit, failures: metrics that differ though the stage's dvc.lock entry is unchanged and
    both ran with bit-compatible numerics on the same CPU model, notes: the same across CPU models)."""
    old, new = _lock_entries(_at_rev(rev, Path("dvc.lock"))), _lock_entries(_read(Path("dvc.lock")))
    compared, problems, notes = [], [], []
    for stage, (signature, outs) in new.items():
        if stage not in old or stage not in base or stage not in run:
            continue
        if old[stage][0] != signature or not numerics.bit_compatible(base[stage], run[stage]):
            continue
        compared.append(stage)
        for path, md5 in outs.items():
            if old[stage][1].get(path) != md5:
                if numerics.same_cpu(base[stage], run[stage]):
                    same = "though code, data, params and numerics match"
                    problems.append(f"{stage}: {path} differs from {rev}'s {same}")
                else:
                    notes.append(
                        f"{stage}: {path} differs from {rev}'s on another CPU ({run[stage].get('cpu_id')} vs "
                        f"{base[stage].get('cpu_id')}): portable numerics did not give the same bits there"
                    )
    return compared, problems, notes


def _read(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None


def _describe(records: dict[str, dict]) -> str:
    """The distinct numerics of a run's stages, each with how many stages ran with it."""
    if not records:
        return "unknown (no metrics/numerics records)"
    counts: dict[str, int] = {}
    for r in records.values():
        counts[numerics.describe(r)] = counts.get(numerics.describe(r), 0) + 1
    return "; ".join(f"{d} [{c} stage{'s' if c > 1 else ''}]" for d, c in counts.items())


def gate_report(params: Params, rev: str = "HEAD") -> tuple[list[str], list[str], list[Verdict]]:
    """(lines saying what was compared, problems, statistical verdicts) of this workspace against `rev`."""
    base, run = numerics_records(rev), numerics_records(None)
    compared, problems, notes = not_reproduced(rev, base, run)
    verdicts = judge(params, _variant_metrics(params, rev), _variant_metrics(params, None))
    g = params.gate
    lines = [
        f"baseline {rev}: {_describe(base)}",
        f"this run: {_describe(run)}",
        (
            f"bit for bit: {len(compared)} stage(s) unchanged with bit-compatible numerics must match {rev} exactly"
            if compared
            else "bit for bit: no stage (numerics not bit-compatible with the baseline, or every stage changed)"
        ),
        f"statistical: {g.metric}, one-sided Welch over seeds, Holm over {len(verdicts)} variants, alpha {g.alpha}, "
        f"min drop {g.min_drop}; one-seed variants: tolerance {g.tolerance}",
        *notes,
    ]
    problems += [f"{v.variant}: {g.metric} {v.old} -> {v.new}: regression ({v.rule})" for v in verdicts if v.regression]
    problems += unmet_checks(params)
    return lines, problems, verdicts


def markdown(params: Params, lines: list[str], problems: list[str], verdicts: list[Verdict], diff_md: str) -> str:
    """The gate as markdown (a CI job summary or a pull-request comment)."""
    status = "❌ gate failed" if problems else "✅ gate passed"
    out = [f"## finegrain gate: {status}", "", *[f"- {line}" for line in lines], ""]
    if problems:
        out += ["**Problems**", "", *[f"- {p}" for p in problems], ""]
    if verdicts:
        out += [
            f"| variant | baseline {params.gate.metric} | this run | drop | p (Holm) | verdict |",
            "|---|---|---|---:|---:|---|",
        ]
        for v in verdicts:
            p = "-" if v.p_holm is None else f"{v.p_holm:.3g}"
            out.append(
                f"| {v.variant} | {v.old} | {v.new} | {v.drop:+.4f} | {p} | "
                f"{'regression' if v.regression else 'ok'}: {v.rule} |"
            )
        out.append("")
    out += ["<details><summary>dvc metrics diff</summary>", "", diff_md or "no metric changes", "", "</details>", ""]
    return "\n".join(out)


def run_gate(params: Params, rev: str = "HEAD", summary: Path | None = None) -> int:
    """Print the metrics diff and the gate's comparisons; write them as markdown to `summary` when given; return 1
    on a problem, else 0."""
    md = subprocess.run(["dvc", "metrics", "diff", rev, "--md", "--all"], capture_output=True, text=True, check=True)
    print(md.stdout or "no metric changes")
    lines, problems, verdicts = gate_report(params, rev)
    for line in lines:
        print(f"gate: {line}")
    for v in verdicts:
        print(f"gate: {v.variant}: {v.old} -> {v.new}: {'REGRESSION' if v.regression else 'ok'} ({v.rule})")
    for p in problems:
        print(f"gate: FAIL {p}", file=sys.stderr)
    if summary is not None:
        with summary.open("a") as f:
            f.write(markdown(params, lines, problems, verdicts, md.stdout))
    if not problems:
        print(f"gate: ok ({len(verdicts)} variants within the statistical rule; every check passes)")
    return 1 if problems else 0
