"""`finegrain sweep collect`: gather a sweep that ran on many machines through DVC's own experiment sharing.

Every machine (a SLURM array task, a cloud VM: tools/slurm_sweep.sh) runs `dvc exp run --temp -S ...` and
`dvc exp push <remote>`; one clone then pulls every experiment on the git remote (`dvc exp pull <remote>
--all-commits`) and tabulates them from `dvc exp show --json` over their baselines: the params that differ and
each variant's quality metrics (metrics/variants/<variant>.json, already the mean +- std over seeds, as the report
shows them). The table goes to data/sweeps/sweep.{md,csv}, not data/reports/: that folder is the report stage's DVC
output, where a foreign file would make `dvc status` see the stage changed and `dvc repro` delete it.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from finegrain.errors import FinegrainError

SWEEPS = Path("data") / "sweeps"
VARIANT_METRICS_PREFIX = "metrics/variants/"
HEADLINE = ("test.top1", "test.macro_f1", "val.top1")
"""Per variant, the quality metrics the table shows (each with its `_std` over seeds when the run had several)."""
INFO = ("experiment", "rev", "baseline")


@dataclass(frozen=True)
class Experiment:
    """One row of `dvc exp show --json`: its name, commit, baseline commit, flat params and variant metrics."""

    name: str
    rev: str
    baseline: str
    params: dict
    metrics: dict  # variant -> its metrics/variants/<variant>.json content


def _dvc(*args: str, cwd: Path) -> str:
    """Run `dvc args` (an argument list, no shell); a failure is one line with dvc's last message."""
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise FinegrainError(f"dvc {' '.join(args)} failed (exit {done.returncode}): {lines[-1] if lines else ''}")
    return done.stdout


def _flat(tree: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _row(rev: dict, name: str, baseline: str) -> Experiment | None:
    data = rev.get("data")
    if not data:  # a failed or queued experiment: no results to show
        return None
    params = _flat(((data.get("params") or {}).get("params.yaml") or {}).get("data") or {})
    metrics = {
        path[len(VARIANT_METRICS_PREFIX) : -len(".json")]: found["data"]
        for path, found in (data.get("metrics") or {}).items()
        if path.startswith(VARIANT_METRICS_PREFIX) and path.endswith(".json") and "data" in found
    }
    return Experiment(name, data["rev"], baseline, params, metrics)


def experiments(show: list[dict]) -> tuple[list[Experiment], list[Experiment]]:
    """(baselines, experiments) of `dvc exp show --json` output; the workspace row is left out, and so is a baseline
    no experiment derives from."""
    baselines, found = [], []
    for commit in show:
        if commit.get("rev") == "workspace":
            continue
        derived = [
            row
            for exp in commit.get("experiments") or []
            for rev in exp.get("revs") or []
            if (row := _row(rev, rev.get("name") or exp.get("name") or rev["rev"][:7], commit["rev"])) is not None
        ]
        base = _row(commit, commit.get("name") or commit["rev"][:7], commit["rev"])
        if derived and base is not None:
            baselines.append(base)
        found += derived
    return baselines, found


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def sweep_table(baselines: list[Experiment], exps: list[Experiment]) -> pd.DataFrame:
    """One row per experiment: name, commit, baseline, every param that differs among the experiments and their
    baselines, then `<variant> <metric>` (and its `_std`) for the HEADLINE metrics of each variant that has them."""
    rows = [*exps, *(b for b in baselines if b.metrics)]  # a baseline shows when it holds results of its own
    compared = [*exps, *baselines]
    keys = list(dict.fromkeys(k for e in compared for k in e.params))
    differ = [k for k in keys if any(not _same(e.params.get(k), compared[0].params.get(k)) for e in compared)]
    variants = sorted({v for e in rows for v in e.metrics})
    table = []
    for e in sorted(rows, key=lambda e: (e.baseline, e.name)):
        line = {"experiment": e.name, "rev": e.rev[:7], "baseline": e.baseline[:7]}
        for key in differ:
            value = e.params.get(key)
            line[key] = json.dumps(value) if isinstance(value, list | dict) else value
        for variant in variants:
            flat = _flat(e.metrics.get(variant, {}))
            for metric in HEADLINE:
                for column in (metric, f"{metric}_std"):
                    if any(column in _flat(r.metrics.get(variant, {})) for r in rows):
                        line[f"{variant} {column}"] = flat.get(column)
        table.append(line)
    return pd.DataFrame(table, columns=list(dict.fromkeys(k for line in table for k in line)) or list(INFO))


def markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (written here: pandas' to_markdown needs tabulate, not a dependency)."""

    def cell(value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        return f"{value:.4f}" if isinstance(value, float) else str(value).replace("|", "\\|")

    head = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" if c in INFO else "---:" for c in table.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *body]) + "\n"


def baseline_commits(root: Path) -> list[str]:
    """The commits the local experiments derive from (each experiment commit's parent), in first-seen order.

    Showing only these (`dvc exp show --rev ...`) rather than `--all-commits` keeps the table to the sweep's
    baselines: in a project whose history commits metrics, every commit would otherwise be a row.
    """
    shas = _dvc("exp", "list", "--all-commits", "--sha-only", cwd=root).split()
    if not shas:
        return []
    done = subprocess.run(["git", "rev-parse", *(f"{sha}^" for sha in shas)], cwd=root, capture_output=True, text=True)
    if done.returncode:
        raise FinegrainError(f"git rev-parse of the experiments' parents failed: {done.stderr.strip()}")
    return list(dict.fromkeys(done.stdout.split()))


def collect(root: Path, remote: str | None, outputs: bool) -> pd.DataFrame:
    """Pull every experiment of git remote `remote` (None: only the local ones), write and return the sweep table.

    `outputs` also pulls each experiment's DVC-cached outputs (models, evaluations) from the DVC remote; the table
    itself needs only the git-tracked params and metrics, so by default they stay on the remote.
    """
    if remote is not None:
        _dvc("exp", "pull", remote, "--all-commits", "--force", *(() if outputs else ("--no-cache",)), cwd=root)
    bases = baseline_commits(root)
    if not bases:
        where = f"on git remote {remote}" if remote else "here (no --remote given)"
        raise FinegrainError(
            f"no experiments {where}: run `dvc exp run` and `dvc exp push` first (tools/slurm_sweep.sh)"
        )
    revs = [arg for base in bases for arg in ("--rev", base)]
    baselines, exps = experiments(json.loads(_dvc("exp", "show", "--json", "--hide-workspace", *revs, cwd=root)))
    table = sweep_table(baselines, exps)
    out = root / SWEEPS
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "sweep.csv", index=False)
    (out / "sweep.md").write_text(markdown(table))
    return table
