"""What a stage process costs before its real work: a fresh Python that imports the stage script's entry module
(its numerics applied first, as `python stages/<stage>.py` does) and validates params.yaml, timed as a whole.

    python bench/startup.py                      # every stage of the default run, 7 runs each, medians
    python bench/startup.py --runs 9 --stages train evaluate
    python bench/startup.py --tree before=/tmp/finegrain-main --tree after=.   # A/B, alternated run by run

`--tree NAME=DIR` times another checkout's stages (its stages/, src/ and params.yaml); with several trees the runs
alternate tree by tree and stage by stage, so a machine whose speed drifts slows every column alike, and each row
gives the median ratio to the first tree. Each row also lists the heavy libraries the process had loaded (what a
stage pays for at start whether it runs them or not); the imports a stage makes later, inside its work, are not
counted. `dvc repro` of the default run starts train and evaluate once per variant (7 each) and every other stage
once: `--repro` prints that weighted sum.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STAGES = (
    "download", "fingerprint", "prepare", "crop", "weights", "generate", "add_generated", "pretrain", "train",
    "evaluate", "report",
)  # fmt: skip
VARIANT = {"train": "cnn", "evaluate": "cnn"}
"""The argument of the stages that take a variant (any variant of params.yaml: the imports do not depend on it)."""
REPRO_STARTS = {"train": 7, "evaluate": 7}
"""Process starts per stage in the default `dvc repro` (one per variant); every other stage starts once."""
HEAVY = (
    "torch", "torchvision", "timm", "torchmetrics", "mmdet", "mmcv", "mmengine", "diffusers", "lightly", "scipy",
    "pandas", "matplotlib", "sklearn", "dvclive", "pytorch_grad_cam", "cv2", "PIL",
)  # fmt: skip

CHILD = """
import importlib.util, json, sys
stage, args = sys.argv[1], sys.argv[2:]
sys.argv = [f"stages/{stage}.py", *args]  # what finegrain/__init__ reads: a stage script, numerics applied first
spec = importlib.util.spec_from_file_location(f"stage_{stage}", f"stages/{stage}.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from finegrain.params import load_params
params = load_params()
if args:
    params.variant(args[0])
heavy = [m for m in json.loads(sys.stdin.read()) if m in sys.modules]
print(json.dumps({"modules": len(sys.modules), "heavy": heavy}))
"""


def run_once(tree: Path, stage: str) -> tuple[float, dict]:
    """(wall seconds, what the child reported) of one fresh process in `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    args = [VARIANT[stage]] if stage in VARIANT else []
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, stage, *args],
        cwd=tree,
        env=env,
        input=json.dumps(HEAVY),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{tree}: stage {stage} failed:\n{done.stderr}")
    return seconds, json.loads(done.stdout.splitlines()[-1])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="timed runs per stage and tree (after one warm-up)")
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    ap.add_argument("--tree", action="append", default=[], help="NAME=DIR, a checkout to time (default: this one)")
    ap.add_argument("--repro", action="store_true", help="also print the sum over the default run's process starts")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    trees = dict(t.split("=", 1) for t in args.tree) or {"this": str(ROOT)}
    trees = {name: Path(d).resolve() for name, d in trees.items()}
    for tree in trees.values():
        for stage in args.stages:
            run_once(tree, stage)  # warm-up: the page cache and .pyc files, not counted
    times: dict[tuple[str, str], list[float]] = {}
    info: dict[tuple[str, str], dict] = {}
    for _ in range(args.runs):
        for stage in args.stages:
            for name, tree in trees.items():
                seconds, info[name, stage] = run_once(tree, stage)
                times.setdefault((name, stage), []).append(seconds)
    names, first = list(trees), next(iter(trees))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.runs} runs each, medians (s)\n")
    ratio_cols = [f"{n}/{first}" for n in names[1:]]
    print("| stage | " + " | ".join(names + ratio_cols) + " | heavy modules loaded (" + names[-1] + ") |")
    print("|---" * (len(names) + len(ratio_cols) + 2) + "|")
    medians = {key: statistics.median(v) for key, v in times.items()}
    for stage in args.stages:
        cells = [f"{medians[n, stage]:.2f}" for n in names]
        for n in names[1:]:
            pairs = zip(times[n, stage], times[first, stage], strict=True)
            cells.append(f"{statistics.median(b / a for b, a in pairs):.2f}")
        print(f"| {stage} | " + " | ".join(cells) + f" | {', '.join(info[names[-1], stage]['heavy'])} |")
    if args.repro:
        total = {n: sum(medians[n, s] * REPRO_STARTS.get(s, 1) for s in args.stages) for n in names}
        starts = sum(REPRO_STARTS.get(s, 1) for s in args.stages)
        print(f"\n{starts} process starts of the default run: " + ", ".join(f"{n} {t:.1f} s" for n, t in total.items()))


if __name__ == "__main__":
    main()
