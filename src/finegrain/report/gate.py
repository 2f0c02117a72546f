"""The CI gate (`finegrain gate`): show `dvc metrics diff --md`; fail when a variant's quality metric dropped too
much, or when a figure of the run does not mean what it says (a variant that learned nothing, a technique that did
not work: finegrain.checks).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from finegrain import checks, paths
from finegrain.params import Params
from finegrain.pipeline import needed_stages


def regressions(params: Params, diff: dict) -> list[str]:
    """Messages for each variant whose gated metric fell by more than the tolerance.

    `diff` is `dvc metrics diff --json` output: {path: {dotted.metric: {old, new, diff}}}.
    """
    metric, problems = params.gate.metric, []
    for name in params.variants:
        tol = params.gate.tolerance_of(name)
        change = diff.get(paths.variant_metrics(name).as_posix(), {}).get(metric) or {}
        if change.get("diff") is not None and change["diff"] < -tol:
            problems.append(
                f"{name}: {metric} {change['old']:.4f} -> {change['new']:.4f} "
                f"(drop {-change['diff']:.4f} > tolerance {tol})"
            )
    return problems


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
    """One message per failed check: each variant learned, and every technique check its stages recorded."""
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
                    problems.append(f"{where}: {check['technique']} did not work: {check['figure']}")
    return problems


def run_gate(params: Params, rev: str = "HEAD") -> int:
    """Print the markdown diff; return 1 on a regression beyond tolerance, else 0."""
    md = subprocess.run(["dvc", "metrics", "diff", rev, "--md", "--all"], capture_output=True, text=True, check=True)
    print(md.stdout or "no metric changes")
    js = subprocess.run(["dvc", "metrics", "diff", rev, "--json"], capture_output=True, text=True, check=True)
    problems = regressions(params, json.loads(js.stdout or "{}")) + unmet_checks(params)
    for p in problems:
        print(f"gate: FAIL {p}", file=sys.stderr)
    if not problems:
        print(
            f"gate: ok (every check passes; {params.gate.metric} within tolerance of {rev} for "
            f"{len(params.variants)} variants: "
            + ", ".join(f"{name} {params.gate.tolerance_of(name)}" for name in params.variants)
            + ")"
        )
    return 1 if problems else 0
