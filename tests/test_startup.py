"""What a stage process loads before its work: each stage script imports only the libraries it runs.

`dvc repro` starts ~24 processes; a library imported at start-up that the stage never uses costs seconds in each
(bench/startup.py times them). A stage's entry module is imported in a fresh process, as `python stages/<s>.py`
does (numerics applied first), and params validated; then the libraries it must not have loaded yet are checked.
Two processes in all: the torch-free stages together, then the torch stages together (what none of them may load
is the same for all, so one process checks their union).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from finegrain.strict_yaml import FAST_SAFE_LOADER, safe_load_unique

ROOT = Path(__file__).resolve().parents[1]

TORCH_FREE = ("download", "fingerprint", "prepare", "add_generated", "report")
"""Stages that read or write files, images and tables only: no torch (~2 s)."""
TORCH_STAGES = ("crop", "weights", "generate", "pretrain", "train", "evaluate")
LOADED_IN_THEIR_WORK = (
    "mmdet", "mmcv", "mmengine", "diffusers", "lightly", "timm", "dvclive", "pytorch_grad_cam", "sklearn", "cv2",
)  # fmt: skip
"""Imported inside the work that needs them (crop.mode mmdet, DDPM, SimCLR, a timm model, the metric log, CAMs),
never at a stage's start."""

CHILD = """
import importlib.util, json, sys
for stage in sys.argv[1:]:
    sys.argv[0] = f"stages/{stage}.py"  # what finegrain/__init__ reads (only the first import acts on it)
    spec = importlib.util.spec_from_file_location(f"stage_{stage}", f"stages/{stage}.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    from finegrain.params import load_params
    load_params().variant("cnn")
print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules})))
"""


def _loaded_by(stages: tuple[str, ...]) -> set[str]:
    """Top-level packages loaded after importing each of `stages`' entry modules and validating params."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *stages], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_stages_that_handle_only_files_start_without_torch():
    loaded = _loaded_by(TORCH_FREE)
    assert not loaded & {"torch", "torchvision", "torchmetrics", *LOADED_IN_THEIR_WORK}, sorted(loaded)


def test_torch_stages_start_without_the_libraries_only_their_work_needs():
    loaded = _loaded_by(TORCH_STAGES)
    assert "torch" in loaded  # (the check works: these stages do load torch)
    assert not loaded & set(LOADED_IN_THEIR_WORK), sorted(loaded & set(LOADED_IN_THEIR_WORK))


def test_the_fast_yaml_parser_reads_the_project_s_yaml_as_yaml_safe_load_does():
    assert safe_load_unique((ROOT / "params.yaml").read_text()) == yaml.safe_load((ROOT / "params.yaml").read_text())
    for path in [ROOT / "dvc.yaml", *sorted((ROOT / "presets").glob("*.yaml"))]:  # anchors, merges, flow styles
        text = path.read_text()
        assert yaml.load(text, Loader=FAST_SAFE_LOADER) == yaml.load(text, Loader=yaml.SafeLoader), path.name
