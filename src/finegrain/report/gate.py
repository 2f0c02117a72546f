"""The CI gate: show `dvc metrics diff --md` and fail when a variant's quality metric dropped too much."""

from __future__ import annotations

import json
import subprocess
import sys

from finegrain.config import Params


def regressions(params: Params, diff: dict) -> list[str]:
    """Messages for each variant whose gated metric fell by more than the tolerance.

    `diff` is `dvc metrics diff --json` output: {path: {dotted.metric: {old, new, diff}}}.
    """
    metric, problems = params.gate.metric, []
    for name in params.variants:
        tol = params.gate.tolerance_of(name)
        change = diff.get(f"metrics/{name}.json", {}).get(metric) or {}
        if change.get("diff") is not None and change["diff"] < -tol:
            problems.append(
                f"{name}: {metric} {change['old']:.4f} -> {change['new']:.4f} "
                f"(drop {-change['diff']:.4f} > tolerance {tol})"
            )
    return problems


def run_gate(params: Params, rev: str = "HEAD") -> int:
    """Print the markdown diff; return 1 on a regression beyond tolerance, else 0."""
    md = subprocess.run(["dvc", "metrics", "diff", rev, "--md", "--all"], capture_output=True, text=True, check=True)
    print(md.stdout or "no metric changes")
    js = subprocess.run(["dvc", "metrics", "diff", rev, "--json"], capture_output=True, text=True, check=True)
    problems = regressions(params, json.loads(js.stdout or "{}"))
    for p in problems:
        print(f"gate: FAIL {p}", file=sys.stderr)
    if not problems:
        print(
            f"gate: ok ({params.gate.metric} within tolerance of {rev} for {len(params.variants)} variants: "
            + ", ".join(f"{name} {params.gate.tolerance_of(name)}" for name in params.variants)
            + ")"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    from finegrain.config import load_params

    sys.exit(run_gate(load_params()))
