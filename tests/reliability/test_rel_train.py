"""Reliability: training and evaluation of one tiny variant gone wrong, stage by stage in-process (16 px images).

A diverging run, Ctrl-C and its resume, evaluate before train, a class without test images. Each test prepares a
3-class tree of 4 noise images per class (2 train, 1 val, 1 test each) and trains small_cnn for 2 epochs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from battery import REPO, class_tree, folder_params, leftovers, run_stage_here, write_params
from cases import case, expect
from conftest import dvc, run

from finegrain.data.folders import read_class_folders
from finegrain.train.loop import FAULT_ENV, FAULT_SIGNAL_ENV

TRAIN = {"epochs": 2, "image_size_px": 16, "batch_size": 4, "augment": "none", "lr": 0.01}
CHEAP_EVALUATE = {"robust": {"images": 0}, "explain": {"images": 0, "faithfulness_images": 0}}


def prepared_project(tmp_path: Path, variant: dict | None = None, before_prepare=None) -> Path:
    """A project whose params train variant `cnn` on a prepared 3-class tree; data/prepared is built."""
    root = class_tree(tmp_path / "photos", classes=("a", "b", "c"))
    overrides = folder_params(root)
    overrides["data"].update(val_fraction=0.25, test_fraction=0.25)
    overrides.update(train=TRAIN, evaluate=CHEAP_EVALUATE)
    overrides["variants"] = {"cnn": {"data": "prepared", "init": "none", **(variant or {})}}
    project = tmp_path / "project"
    write_params(project, overrides)
    if before_prepare:
        before_prepare(root, project)
    out = run_stage_here(project, "prepare")
    assert out.code == 0, out.stderr[-2000:]
    return project


def history(project: Path) -> list[str]:
    """history.csv of seed 0 without its timing columns (*_time_s)."""
    text = (project / "data" / "models" / "cnn" / "seed0" / "history.csv").read_text()
    rows = [line.split(",") for line in text.splitlines()]
    keep = [i for i, name in enumerate(rows[0]) if not name.endswith("_time_s")]
    return [",".join(row[i] for i in keep) for row in rows]


@case(
    "Runs",
    "a diverging run (variants.cnn.lr: 1e6): the loss becomes NaN",
    "error: params.yaml: variants.cnn: seed 0 diverged in epoch {epoch} (train loss {train}, val loss {val}); lower "
    "variants.cnn.lr (now 1e+06)",
    "training stops (exit 2) at the first epoch with a NaN or infinite loss, before saving it: no data/models/cnn, "
    "so under dvc repro no evaluate runs and no metrics are published",
)
def test_diverging_run_stops(tmp_path):
    project = prepared_project(tmp_path, {"lr": 1e6})
    out = run_stage_here(project, "train", "cnn")
    error = out.error
    epoch = error.split(" diverged in epoch ")[1].split(" ")[0]
    losses = error.split("(train loss ")[1].split(")")[0]
    train, val = losses.split(", val loss ")
    assert error == expect(test_diverging_run_stops, epoch=epoch, train=train, val=val)
    assert "nan" in (train + val) or "inf" in (train + val)
    assert (
        not (project / "data" / "models" / "cnn").exists()
        and not (project / "metrics" / "variants" / "cnn.json").exists()
    )


@case(
    "Runs",
    "Ctrl-C (SIGINT) during training, right after epoch 1 of 2",
    "error: train@cnn seed 0: interrupted; the state after epoch 1 is kept in data/ckpt/cnn/{key}/seed0.pt: run "
    "`dvc repro` again to resume from epoch 2",
    "exit status 130, no traceback; the next run resumes at epoch 2 and ends with the history of an uninterrupted run",
)
def test_ctrl_c_during_training_then_resume(tmp_path):
    project = prepared_project(tmp_path)
    env = {**os.environ, FAULT_ENV: "1", FAULT_SIGNAL_ENV: "INT"}
    result = subprocess.run(
        [sys.executable, str(REPO / "stages" / "train.py"), "cnn"], cwd=project, env=env, capture_output=True, text=True
    )
    assert result.returncode == 130 and "Traceback" not in result.stderr, result.stderr[-3000:]
    states = list((project / "data" / "ckpt" / "cnn").glob("*/seed0.pt"))
    assert len(states) == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [expect(test_ctrl_c_during_training_then_resume, key=states[0].parent.name)]
    assert run_stage_here(project, "train", "cnn").code == 0
    resumed = history(project)
    shutil.rmtree(project / "data" / "models")
    assert run_stage_here(project, "train", "cnn").code == 0  # straight through, from scratch
    assert resumed == history(project) and len(resumed) == 3


@case(
    "Runs",
    "running evaluate for a variant that was not trained yet (python stages/evaluate.py cnn)",
    "error: data/models/cnn: variant 'cnn' is not trained yet; run `dvc repro evaluate@cnn`",
    "evaluate stops (exit 2) before reading anything; no metrics are written",
)
def test_evaluate_before_train(tmp_path):
    project = prepared_project(tmp_path)
    out = run_stage_here(project, "evaluate", "cnn")
    assert out.error == expect(test_evaluate_before_train)
    assert not (project / "metrics" / "variants" / "cnn.json").exists()


@case(
    "Runs",
    "a class left without test images (its one test image is unreadable and skipped)",
    "dataset 'imagefolder': 1 class(es) have no test images, e.g. 'c'",
    "prepare warns; evaluate writes an empty (NaN) accuracy for class c in per_class.csv, not 0.0",
)
def test_class_without_test_images(tmp_path):
    def break_c_test_image(root: Path, project: Path) -> None:
        raw = read_class_folders(root, "imagefolder", 0, 0.25, 0.25)
        test_c = next(r for r in raw.records if r.split == "test" and r.id.startswith("c/"))
        test_c.path.write_bytes(b"not an image")

    project = prepared_project(tmp_path, before_prepare=break_c_test_image)
    out = run_stage_here(project, "prepare")
    assert expect(test_class_without_test_images) in out.warnings
    assert run_stage_here(project, "train", "cnn").code == 0
    assert run_stage_here(project, "evaluate", "cnn").code == 0
    per_class = pd.read_csv(project / "data" / "eval" / "cnn" / "per_class.csv")
    assert per_class["class"].tolist() == ["a", "b", "c"]
    assert per_class["accuracy"].isna().tolist() == [False, False, True]
    assert json.loads((project / "metrics" / "variants" / "cnn.json").read_text())["test"]["top1"] >= 0.0


@case(
    "Runs",
    "Ctrl-C during prepare, while it decodes (over a previous complete data/prepared)",
    "error: prepare: interrupted; run `dvc repro` again to finish it",
    "exit status 130, no traceback; the previous data/prepared is unchanged and no temp dir is left",
)
def test_ctrl_c_during_prepare(tmp_path, monkeypatch):
    import finegrain.data.prepare as prepare

    project = prepared_project(tmp_path)
    before = snapshot(project / "data" / "prepared")
    decode, calls = prepare.decode_record, []

    def pressed_ctrl_c_at_the_third_image(record, size_px):
        calls.append(record.id)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return decode(record, size_px)

    monkeypatch.setattr(prepare, "decode_record", pressed_ctrl_c_at_the_third_image)
    out = run_stage_here(project, "prepare")
    assert (out.code, out.errors) == (130, [expect(test_ctrl_c_during_prepare)])
    assert snapshot(project / "data" / "prepared") == before and leftovers(project / "data") == []


@case(
    "Runs",
    "Ctrl-C while a stage script is still importing (torch, timm: seconds before run_stage starts)",
    "error: slow_imports: interrupted; run `dvc repro` again to finish it",
    "one line instead of a traceback through torch's imports; the process still ends by SIGINT (status -2; 130 in "
    "a shell), as DVC expects of an interrupted command",
)
def test_ctrl_c_during_imports(tmp_path):
    script = tmp_path / "stages" / "slow_imports.py"
    script.parent.mkdir()
    script.write_text(
        "from finegrain.cli import run_stage  # noqa: F401  (stage scripts import it before their heavy imports)\n"
        "raise KeyboardInterrupt  # Ctrl-C while the heavy imports load\n"
    )
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == -2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines() == [expect(test_ctrl_c_during_imports)]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@case(
    "Runs",
    "training on a folder dataset prepared with data.val_fraction 0 (no validation images)",
    "error: data/prepared: split 'val' is empty (counts: {counts}); folder datasets take it from data.val_fraction > 0",
    "training stops before building the model (exit 2); the line names the param to change",
)
def test_training_without_validation_split(tmp_path):
    def no_val(root: Path, project: Path) -> None:
        write_params(
            project, {**folder_params(root), "train": TRAIN, "variants": {"cnn": {"data": "prepared", "init": "none"}}}
        )

    project = prepared_project(tmp_path, before_prepare=no_val)
    counts = json.loads((project / "data" / "prepared" / "meta.json").read_text())["counts"]
    out = run_stage_here(project, "train", "cnn")
    assert out.error == expect(test_training_without_validation_split, counts=counts)
    assert not (project / "data" / "models").exists()


@case(
    "Runs",
    "training interrupted after epoch 1, then the code edited (any source file of the package), then dvc repro",
    "data/ckpt/cnn: ignoring 1 resume state(s) of other params, data or code; training starts from epoch 1",
    "the resume state of the old code is not loaded (the run would be neither the old code's nor the new's): the "
    "resume key hashes the config, the input data and the package's source; the cached features of frozen "
    "backbones and the generate/pretrain resume states use the same key",
)
def test_code_edit_does_not_resume_old_state(tmp_path, monkeypatch, caplog):
    import finegrain.train.checkpoint as checkpoint

    project = prepared_project(tmp_path)
    env = {**os.environ, FAULT_ENV: "1", FAULT_SIGNAL_ENV: "INT"}
    result = subprocess.run([sys.executable, str(REPO / "stages" / "train.py"), "cnn"], cwd=project, env=env)
    assert result.returncode == 130 and len(list((project / "data" / "ckpt" / "cnn").glob("*/seed0.pt"))) == 1
    monkeypatch.setattr(checkpoint, "code_digest", lambda: "edited")
    with caplog.at_level("INFO", logger="finegrain"):
        out = run_stage_here(project, "train", "cnn")
    assert (out.code, out.warnings) == (0, [expect(test_code_edit_does_not_resume_old_state)])
    assert not [r for r in caplog.records if r.getMessage().startswith("resuming from")]


def _status_after_edit(project: Path, source: str) -> set[str]:
    """The stages `dvc status` calls changed after appending a comment to `source` (then restored)."""
    path = project / source
    original = path.read_text()
    path.write_text(original + "\n# edited\n")
    try:
        status = json.loads(dvc(project, "status", "--json").stdout or "{}")
    finally:
        path.write_text(original)
    return {name for name, changes in status.items() if changes != ["always changed"]}


@case(
    "Runs",
    "an edit to a source file a stage imports (a loss, the download code), then dvc status / dvc repro",
    "",
    "DVC re-runs exactly the stages that run the edited code: each stage's dvc.yaml deps are its import closure "
    "(tests/pipeline/test_dvc_deps.py), so a loss edit re-runs the variants' train and evaluate stages and a "
    "download-code edit only `download`",
    shown="dvc status lists the stages that run the edited file as changed; the others stay up to date",
)
@pytest.mark.slow
def test_code_edit_reruns_exactly_the_stages_that_run_it(tiny_project, tmp_path):
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(tiny_project), str(clone)], tmp_path)
    dvc(clone, "config", "--local", "cache.dir", str(tiny_project / ".dvc" / "cache"))
    dvc(clone, "checkout")
    variants = yaml.safe_load((clone / "params.yaml").read_text())["variants"]
    every_variant = {f"{stage}@{v}" for v in variants for stage in ("train", "evaluate")}
    assert _status_after_edit(clone, "src/finegrain/losses/triplet.py") == every_variant
    assert _status_after_edit(clone, "src/finegrain/data/download.py") == {"download"}
    shard_format = _status_after_edit(clone, "src/finegrain/data/shards.py")  # every stage that reads or writes shards
    assert {"prepare", "crop", "generate", "add_generated", "pretrain"} | every_variant == shard_format
    assert _status_after_edit(clone, "src/finegrain/report/html.py") == {"report"}


@case(
    "Runs",
    "a few-shot subset smaller than the number of classes (train_images: 2 with 3 classes)",
    "error: params.yaml: variants.cnn.train_images: 2 images cannot cover the 3 classes of the training split; use "
    "at least 3 (one per class)",
    "training stops before building the model (exit 2), instead of a model that never sees one class; a subset at "
    "least as large as the split warns 'variants.cnn.train_images: 6 >= the 6 training images: all are used'",
)
def test_few_shot_subset_smaller_than_classes(tmp_path):
    project = prepared_project(tmp_path, {"train_images": 2})
    out = run_stage_here(project, "train", "cnn")
    assert out.error == expect(test_few_shot_subset_smaller_than_classes)
    write_params(
        project,
        {
            **yaml.safe_load((project / "params.yaml").read_text()),
            "variants": {"cnn": {"data": "prepared", "init": "none", "train_images": 6}},
        },
    )
    out = run_stage_here(project, "train", "cnn")
    assert (out.code, out.warnings) == (0, ["variants.cnn.train_images: 6 >= the 6 training images: all are used"])


@case(
    "Runs",
    "evaluate run by hand after editing a variant's params without retraining (lr 0.01 -> 0.02)",
    "error: data/models/cnn: trained with other params (variants.cnn.lr: 0.01, now 0.02); run `dvc repro "
    "evaluate@cnn` to retrain it first",
    "evaluate stops (exit 2) instead of publishing the old model's metrics under the new params (dvc repro itself "
    "retrains first: the params are train's deps)",
)
def test_evaluate_after_params_edit_without_training(tmp_path):
    project = prepared_project(tmp_path)
    assert run_stage_here(project, "train", "cnn").code == 0
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["variants"]["cnn"]["lr"] = 0.02
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    out = run_stage_here(project, "evaluate", "cnn")
    assert out.error == expect(test_evaluate_after_params_edit_without_training)
    assert not (project / "metrics" / "cnn.json").exists()


@case(
    "Params",
    "a variant trained above the stored size (prepare.size_px: 16, variants.cnn.image_size_px: 32, two seeds)",
    "variants.cnn.image_size_px (32) is above prepare.size_px (16): train@cnn trains on images upsampled 2x per "
    "side; lower variants.cnn.image_size_px or raise prepare.size_px unless that is the intent",
    "a warning, once per stage (train, and evaluate with 'evaluate@cnn tests'), not a refusal: upsampling is a "
    "recipe (a pretrained net at its native size on small images; preset E does it and says so); train records it "
    "in data/models/cnn/summary.json (`upsampled`) and the report's summary says '16 px images upsampled to 32' "
    "(before: no word)",
)
def test_upsampled_variant_is_said_and_recorded(tmp_path):
    project = prepared_project(tmp_path, {"image_size_px": 32, "seeds": [0, 1]})
    trained = run_stage_here(project, "train", "cnn")
    assert (trained.code, trained.warnings) == (0, [expect(test_upsampled_variant_is_said_and_recorded)])
    summary = json.loads((project / "data" / "models" / "cnn" / "summary.json").read_text())
    assert summary["upsampled"] == {
        "size_key": "variants.cnn.image_size_px",
        "size_px": 32,
        "stored_key": "prepare.size_px",
        "stored_px": 16,
        "factor": 2.0,
    }
    evaluated = run_stage_here(project, "evaluate", "cnn")
    tests = expect(test_upsampled_variant_is_said_and_recorded).replace("train@cnn trains", "evaluate@cnn tests")
    assert (evaluated.code, evaluated.warnings) == (0, [tests])
    assert run_stage_here(project, "report").code == 0
    summary_md = (project / "data" / "reports" / "summary.md").read_text()
    assert "small_cnn from scratch on full frames (16 px images upsampled to 32)" in summary_md


def _variant_outputs(project: Path, name: str) -> None:
    """What evaluate@<name> leaves for the report: its quality metrics and timings (figures of a run that learned)."""
    quality = {
        "val": {"top1": 0.8},
        "test": {"top1": 0.8, "macro_f1": 0.8, "majority_top1": 0.34},
        "params": 1000,
        "seeds": 1,
    }
    for folder, record in (
        (project / "metrics" / "variants", quality),
        (project / "data" / "perf" / "variants", {"epoch_time_s": 1.0, "train_time_s": 2.0}),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(json.dumps(record))


@case(
    "Runs",
    "the report of variants with every init the schema allows (none, hub, lite0, lite1, lite2, simclr)",
    "",
    "the report stage describes each one (e.g. 'tf_efficientnet_lite1 ImageNet init fine-tuned on full frames') "
    "(before: a KeyError traceback for init lite1 or lite2, after they had trained and evaluated)",
    shown="nothing: the report stage succeeds",
)
def test_report_describes_every_init(tmp_path):
    from finegrain.models.names import INITS, LITE_MODELS

    models = {**{lite: names[0] for lite, names in LITE_MODELS.items()}, "hub": "resnet18"}
    variants = {
        f"v_{init}": {"data": "prepared", "init": init, "model": models.get(init, "small_cnn")} for init in INITS
    }
    write_params(tmp_path, {"variants": variants})
    for name in variants:
        _variant_outputs(tmp_path, name)
    out = run_stage_here(tmp_path, "report")
    assert out.code == 0, out.stderr[-2000:]
    summary = (tmp_path / "data" / "reports" / "summary.md").read_text()
    assert "| v_lite1 | tf_efficientnet_lite1 ImageNet init fine-tuned on full frames |" in summary
    assert all(f"| v_{init} | " in summary for init in INITS)
