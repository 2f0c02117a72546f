"""Reliability: edits a user makes after a run, seen through the real `dvc repro` / `dvc exp` of a tiny project.

An edit no stage tracks (a misspelt params group, a bad variant name beside a trained one) must stop the next run
with its one-line error, not be skipped over; a preset's experiment must apply with `dvc exp apply`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml
from battery import cheap_evaluate
from cases import case, expect
from conftest import TINY_OVERRIDES, deep_merge, dvc, make_project, run

pytestmark = pytest.mark.slow

TARGET = "evaluate@cnn"
TINY_RUN = {
    "prepare": {"size_px": 32},
    "crop": {"mode": "none"},
    "train": {"epochs": 1, "image_size_px": 32},
    "evaluate": cheap_evaluate(),
    "variants": {"cnn": {"data": "prepared", "init": "none", "lr": 0.003}},
    "report": {"claims": []},
}


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> Path:
    """A tiny project after `dvc repro evaluate@cnn`, committed."""
    project = make_project(tmp_path_factory.mktemp("edits") / "project", deep_merge(TINY_OVERRIDES, TINY_RUN))
    dvc(project, "repro", TARGET)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "run"], project)
    return project


def repro_after(project: Path, edit) -> tuple[int, str]:
    """`dvc repro evaluate@cnn` after `edit(params)` of params.yaml (restored afterwards): (exit status, output)."""
    path = project / "params.yaml"
    original = path.read_text()
    params = yaml.safe_load(original)
    edit(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        result = dvc(project, "repro", TARGET, check=False)
    finally:
        path.write_text(original)
    return result.returncode, result.stdout + result.stderr


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


@case(
    "Params",
    "after a run, a misspelt group added to params.yaml (trian: {epochs: 5}, meant train), then dvc repro evaluate@cnn",
    "error: params.yaml: trian: unknown key",
    "the run stops at the fingerprint stage, which runs on every repro and validates all of params.yaml (exit 1, "
    "DVC's 'failed to reproduce' after the line); the last run's outputs are kept (before: exit 0, \"didn't "
    'change, skipping", the group silently ignored)',
)
def test_misspelt_group_after_a_run(ran):
    code, output = repro_after(ran, lambda p: p.update(trian={"epochs": 5}))
    assert code != 0 and error_lines(output) == [expect(test_misspelt_group_after_a_run)], output[-3000:]
    assert "Running stage 'train@cnn'" not in output
    assert (ran / "data" / "models" / "cnn" / "summary.json").is_file()


@case(
    "Params",
    "after a run, a variant named a/b added beside the trained one, then dvc repro evaluate@cnn",
    "error: params.yaml: variants: a/b: a variant name is a file name and a params key: letters, digits, '_', '-'",
    "the run stops at the fingerprint stage (exit 1) (before: exit 0 for evaluate@cnn; a full dvc repro refused "
    "it only when it reached the crop stage)",
)
def test_bad_variant_name_after_a_run(ran):
    code, output = repro_after(ran, lambda p: p["variants"].update({"a/b": {"data": "prepared", "init": "none"}}))
    assert code != 0 and error_lines(output) == [expect(test_bad_variant_name_after_a_run)], output[-3000:]


PRESET = {
    "description": "one tiny variant on the embedded data (a test preset)",
    "params": {
        "data": TINY_OVERRIDES["data"],
        **{key: TINY_RUN[key] for key in ("prepare", "crop", "train", "evaluate")},
        "variants": {"v": {"data": "prepared", "init": "none", "lr": 0.003}},
        "report": {"claims": []},
    },
    "scales": {"cpu": {}},
}


@case(
    "Runs",
    "a preset's experiment applied: `finegrain presets apply`, its run (`dvc repro report`, the command apply "
    "prints), then `dvc exp run -S variants.v.lr=0.01 evaluate@v` and `dvc exp apply <exp>`",
    "Changes for experiment '{name}' have been applied to your current workspace.",
    "exit 0: apply comments out (`#off: `) the stages no variant of the preset reads (crop, generate, "
    "add_generated, pretrain), so every stage of its pipeline has outputs to check out (before: exit 255, "
    "'Checkout failed for following targets' listing the outputs of those never-run stages, after applying the "
    "params). DVC fails on any output never produced: run the preset once before experiments on a subset",
)
def test_preset_experiment_applies_cleanly(tmp_path):
    project = make_project(tmp_path / "project", {})
    (project / "presets").mkdir()
    (project / "presets" / "T.yaml").write_text(yaml.safe_dump(PRESET, sort_keys=False))
    applied = run([sys.executable, "-m", "finegrain", "presets", "apply", "T", "--scale", "cpu"], project).stdout
    dvc(project, "repro", "report")
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "preset T"], project)
    dvc(project, "exp", "run", "-n", "lr01", "-S", "variants.v.lr=0.01", "evaluate@v")
    result = dvc(project, "exp", "apply", "lr01", check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert expect(test_preset_experiment_applies_cleanly, name="lr01") in output.splitlines()
    assert yaml.safe_load((project / "params.yaml").read_text())["variants"]["v"]["lr"] == 0.01
    assert "stages crop, generate, add_generated, pretrain off" in applied
    assert re.search(r"^#off:   crop:$", (project / "dvc.yaml").read_text(), re.MULTILINE)
