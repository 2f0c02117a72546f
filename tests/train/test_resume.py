"""A run killed with SIGKILL after an epoch resumes from its checkpoint and ends exactly like an uninterrupted run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import TINY_OVERRIDES, deep_merge, dvc, make_project, run

pytestmark = pytest.mark.slow


def test_kill9_then_repro_resumes_and_matches(tmp_path):
    project = make_project(
        tmp_path / "p",
        deep_merge(TINY_OVERRIDES, {"train": {"epochs": 3}, "variants": {"cnn": {"data": "prepared", "init": "none"}}}),
    )
    dvc(project, "repro", "prepare", "weights")
    killed = subprocess.run(
        [sys.executable, "stages/train.py", "cnn"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "FINEGRAIN_FAULT_KILL_AFTER_EPOCH": "2"},
    )
    assert killed.returncode == -9
    states = list((project / "data" / "ckpt" / "cnn").glob("*/seed0.pt"))
    assert len(states) == 1
    out = dvc(project, "repro", "evaluate@cnn")
    assert "resuming from" in out.stderr + out.stdout
    assert not (project / "data" / "ckpt" / "cnn").exists()  # deleted after success
    resumed = json.loads((project / "metrics" / "cnn.json").read_text())
    history_resumed = (project / "data" / "models" / "cnn" / "seed0" / "history.csv").read_text()

    shutil.rmtree(project / "data" / "models")
    run([sys.executable, "stages/train.py", "cnn"], project)
    run([sys.executable, "stages/evaluate.py", "cnn"], project)
    straight = json.loads((project / "metrics" / "cnn.json").read_text())
    assert resumed == straight
    strip = lambda text: [line.rsplit(",", 1)[0] for line in text.splitlines()]  # drop epoch_time_s
    assert strip(history_resumed) == strip((project / "data" / "models" / "cnn" / "seed0" / "history.csv").read_text())
