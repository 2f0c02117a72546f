"""The `finegrain` command: `presets list|apply`, `gate`, `doctor`, `sweep collect`, from any folder of a project.

The project root is the nearest folder, from the working directory up, holding both dvc.yaml and params.yaml; every
project path (presets/, params.yaml, metrics/) is resolved from it. Bad input is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from finegrain.errors import ConfigError, FinegrainError

PROJECT_FILES = ("dvc.yaml", "params.yaml")
PACKAGES = ("torch", "torchvision", "timm", "mmdet", "mmcv", "diffusers", "dvc")
"""What `doctor` reports the version of."""


def project_root(start: Path | None = None) -> Path:
    """The nearest folder from `start` (the working directory) up that holds dvc.yaml and params.yaml."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if all((folder / name).is_file() for name in PROJECT_FILES):
            return folder
    raise ConfigError(
        f"{start}: not inside a finegrain project (no folder from here up holds dvc.yaml and params.yaml)"
    )


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (`error: ...`) and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="finegrain", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    presets = sub.add_parser("presets", help="list the presets, or write params.yaml for one")
    which = presets.add_subparsers(dest="action", required=True, parser_class=_Parser)
    which.add_parser("list", help="presets, their scales and reports")
    apply = which.add_parser("apply", help="write params.yaml for a preset at a scale")
    apply.add_argument("preset")
    apply.add_argument("--scale", default="cpu")
    apply.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY.PATH=VALUE")
    apply.add_argument("--out", type=Path, default=None, help="default: the project's params.yaml")
    gate = sub.add_parser("gate", help="dvc metrics diff against a revision; fail on a regression or a failed check")
    gate.add_argument("--rev", default="HEAD")
    gate.add_argument("--summary", type=Path, default=None, help="also append the gate as markdown to this file")
    sub.add_parser("doctor", help="versions, device, precision, mmcv ops, threads, data roots, dvc status")
    sweep = sub.add_parser("sweep", help="a sweep run on many machines with dvc exp run/push (tools/slurm_sweep.sh)")
    sweep_action = sweep.add_subparsers(dest="action", required=True, parser_class=_Parser)
    collect = sweep_action.add_parser(
        "collect", help="dvc exp pull every experiment of a git remote; table of their params and metrics"
    )
    collect.add_argument("--remote", default="origin", help="git remote the machines pushed to (default: origin)")
    collect.add_argument("--no-pull", action="store_true", help="tabulate the local experiments only")
    collect.add_argument("--outputs", action="store_true", help="also pull their DVC outputs (models, evaluations)")
    return parser


def _sweep(args: argparse.Namespace, root: Path) -> int:
    from finegrain.sweep import SWEEPS, collect, markdown

    table = collect(root, None if args.no_pull else args.remote, args.outputs)
    print(markdown(table), end="")
    print(f"{len(table)} experiments -> {SWEEPS / 'sweep.md'}, {SWEEPS / 'sweep.csv'}")
    return 0


def _presets(args: argparse.Namespace, root: Path) -> int:
    from finegrain.presets.apply import apply_preset, load_preset, next_command

    presets_dir = root / "presets"
    if args.action == "list":
        for path in sorted(presets_dir.glob("*.yaml")):
            preset = load_preset(path.stem, presets_dir)
            print(f"{path.stem}  scales: {', '.join(preset['scales'])}  {preset.get('description', '')}")
        return 0
    out = args.out if args.out is not None else root / "params.yaml"
    params = apply_preset(args.preset, args.scale, args.sets, out, presets_dir)
    print(
        f"{out}: preset {args.preset}, scale {args.scale}: {len(params.variants)} variants, "
        f"{len(params.report.claims)} claims, dataset {params.data.dataset}. "
        f"Next: {next_command(load_preset(args.preset, presets_dir), params.data.dataset)}"
    )
    if args.out is None:  # the project's run: its stage set, so that `dvc exp apply` finds every output
        from finegrain.presets.stages import write_stage_set

        off = write_stage_set(root / "dvc.yaml", params)
        if off:
            print(
                f"{root / 'dvc.yaml'}: stages {', '.join(off)} off (#off:): no variant of the preset reads their "
                "outputs; run the preset once (dvc repro report) before experiments on a subset of its stages"
            )
    return 0


def _gate(args: argparse.Namespace, root: Path) -> int:
    from finegrain.params import load_params
    from finegrain.report.gate import run_gate

    summary = args.summary.resolve() if args.summary else None
    os.chdir(root)  # the gate reads metrics/ and runs dvc from the project root
    return run_gate(load_params(), args.rev, summary)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _mmcv_ops() -> str:
    try:
        from mmcv.ops import nms  # noqa: F401  (compiled ops: the detector needs them)
    except Exception as err:  # noqa: BLE001  (any failure to load is what doctor reports)
        return f"do not load ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
    return "load"


def _data_roots(params, root: Path) -> list[str]:
    from finegrain import paths

    data, lines = params.data, []
    if data.root:
        if "://" in data.root and not data.root.startswith("file://"):
            lines.append(f"data.root {data.root} (a URL, not checked)")
        else:
            where = Path(data.root.removeprefix("file://")).expanduser()
            where = where if where.is_absolute() else root / where
            lines.append(f"data.root {where}: {'found' if where.is_dir() else 'MISSING'}")
    for folder in (paths.RAW / data.dataset, paths.DATA / "downloads" / data.dataset):
        lines.append(f"{folder}: {'found' if (root / folder).is_dir() else 'absent'}")
    return lines


def _dvc_status(root: Path) -> str:
    """What `dvc status` says, in one line: up to date, or the stages that would run (no shell)."""
    try:
        done = subprocess.run(["dvc", "status", "--json"], cwd=root, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"could not run ({err})"
    try:
        changed = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        changed = None
    if done.returncode or not isinstance(changed, dict):
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"failed (exit status {done.returncode}): {lines[-1] if lines else 'no output'}"
    if not changed:
        return "up to date"
    return f"{len(changed)} stage(s) would run: {', '.join(changed)}"


def _doctor(root: Path) -> int:
    """Print what this machine would run the project with; exit 1 when something it needs is missing."""
    import finegrain
    from finegrain import numerics

    mode = numerics.mode_of(root / "params.yaml")
    if not {"torch", "numpy", "cv2"} & set(sys.modules):  # as a stage would run (the CLI loads none of them first)
        numerics.apply(mode)
    problems = 0
    print(f"project: {root}")
    print(f"finegrain {finegrain.__version__} ({Path(finegrain.__file__).parent}), python {platform.python_version()}")
    for package in PACKAGES:
        print(f"{package}: {_version(package)}")
    try:
        from finegrain.params import load_params

        params = load_params(root / "params.yaml")
    except FinegrainError as err:
        print(f"params: {err}")
        params, problems = None, problems + 1
    if params is not None:
        import torch

        from finegrain.runtime import DEVICE_ENV, THREADS_ENV, configure_threads, resolve_device

        device = resolve_device(params.base.device)
        override = f", {DEVICE_ENV}={os.environ[DEVICE_ENV]}" if DEVICE_ENV in os.environ else ""
        print(f"device: {device} (base.device {params.base.device}{override}; crop.device {params.crop.device})")
        by_precision: dict[str, list[str]] = {}
        for name in params.variants:
            precision = params.variant(name).precision
            if precision == "auto":  # as train/compute.py resolves it: fp32 off CUDA, a measured probe on CUDA
                precision = "fp32" if device.type != "cuda" else "auto (bf16 if a probe finds it >= 1.3x faster)"
            by_precision.setdefault(precision, []).append(name)
        print("precision: " + "; ".join(f"{p} ({', '.join(names)})" for p, names in by_precision.items()))
        problem = numerics.check(params.base.numerics)
        if problem is None:
            configure_threads(params.base.threads, params.base.numerics)
        env = f", {THREADS_ENV}={os.environ[THREADS_ENV]}" if THREADS_ENV in os.environ else ""
        print(f"torch threads: {torch.get_num_threads()} (base.threads {params.base.threads}{env})")
        print(f"numerics: {numerics.describe(numerics.record())} (base.numerics {params.base.numerics})")
        if problem:
            print(f"  {problem}")
            problems += 1
        roots = _data_roots(params, root)
        problems += sum("MISSING" in line for line in roots)
        print(f"data: {params.data.dataset} from {params.data.source}")
        for line in roots:
            print(f"  {line}")
    ops = _mmcv_ops()
    problems += ops != "load"
    print(f"mmcv ops: {ops}")
    print(f"dvc status: {_dvc_status(root)}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    """Run the command with `argv` (default: sys.argv[1:]); returns the exit status."""
    logging.basicConfig(format="%(levelname)s: %(message)s")
    try:
        args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
        root = project_root()
        if args.command == "presets":
            return _presets(args, root)
        if args.command == "gate":
            return _gate(args, root)
        if args.command == "sweep":
            return _sweep(args, root)
        return _doctor(root)
    except FinegrainError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_status
    except BrokenPipeError:  # `finegrain presets list | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
