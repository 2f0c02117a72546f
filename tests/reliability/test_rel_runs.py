"""Reliability: kill -9 mid-stage, resume, no-op re-runs, parallel queued experiments, determinism.

One tiny project (one cheap variant) goes through the steps in order; each step is a module-scoped fixture that
records what happened, and each case asserts on its step. Faults are injected deterministically by environment
variables (never by sleeping and killing).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import yaml
from battery import cheap_evaluate, leftovers
from cases import case, expect
from conftest import TINY_OVERRIDES, deep_merge, dvc, make_project, run, stage_module

from finegrain.atomic import FAULT_KILL_ENV
from finegrain.train.loop import FAULT_ENV

pytestmark = pytest.mark.slow

TARGET = "evaluate@cnn"
KILLED_SHOWN = (
    "the process dies with exit status -9 (under dvc repro: DVC's 'failed to run ... exited with -9' line, "
    "or 137 when DVC's shell is dash)"
)
QUEUED_LR = ("0.01", "0.001")


@dataclass
class Step:
    code: int
    output: str
    data: list[str]
    """Hidden temp entries left in data/ afterwards."""
    extra: dict = field(default_factory=dict)
    """What the step recorded besides (dvc.lock stages, resume states, snapshots)."""

    def line(self, prefix: str) -> str:
        lines = [x for x in self.output.splitlines() if x.startswith(prefix)]
        assert len(lines) >= 1, self.output[-3000:]
        return lines[0]

    def kill_status(self) -> str:
        """The status in DVC's 'exited with N' line for a SIGKILLed stage: -9 when DVC's shell ($SHELL, e.g. bash)
        execs the command, 137 (128 + 9) when the shell forks it and reports the signal as a status (dash's /bin/sh,
        what DVC uses when $SHELL is unset)."""
        status = self.line("ERROR:").rsplit(" ", 1)[-1]
        assert status in ("-9", "137"), self.line("ERROR:")
        return status


def snapshot(folder: Path) -> dict[str, str]:
    """relative path -> md5 of every file under folder."""
    return {
        p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def killed_stages(project: Path, outputs: dict[str, str]) -> dict[str, Step]:
    """Run stage scripts side by side, each SIGKILLed by atomic_dir before its output `outputs[stage]` is in place."""
    procs = {
        stage: subprocess.Popen(
            [sys.executable, f"stages/{stage}.py"],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, FAULT_KILL_ENV: output},
        )
        for stage, output in outputs.items()
    }
    texts = {stage: proc.communicate(timeout=300)[0] for stage, proc in procs.items()}
    return {stage: Step(procs[stage].returncode, texts[stage], leftovers(project / "data")) for stage in procs}


def repro(project: Path, env: dict | None = None) -> Step:
    result = dvc(project, "repro", TARGET, check=False, env=env)
    return Step(result.returncode, result.stdout + result.stderr, leftovers(project / "data"))


def lock(project: Path) -> dict:
    path = project / "dvc.lock"
    return yaml.safe_load(path.read_text())["stages"] if path.is_file() else {}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    overrides = deep_merge(
        TINY_OVERRIDES,
        {
            "train": {"epochs": 2},
            "evaluate": cheap_evaluate(),
            "generate": {"input": "prepared", "methods": ["dcgan"], "augment": {"method": "dcgan"}},
            "variants": {"cnn": {"data": "prepared", "init": "none", "lr": 0.003}},
            "report": {"claims": []},
        },
    )
    return make_project(tmp_path_factory.mktemp("runs") / "project", overrides)


@pytest.fixture(scope="module")
def killed_prepare(project) -> Step:
    """Step 1: dvc repro, with prepare SIGKILLed once its output is complete but not yet in place."""
    step = repro(project, env={FAULT_KILL_ENV: "prepared"})
    step.extra["lock"] = lock(project)
    return step


@pytest.fixture(scope="module")
def killed_training(project, killed_prepare) -> Step:
    """Step 2: dvc repro again (prepare succeeds), training SIGKILLed right after epoch 1's checkpoint."""
    step = repro(project, env={FAULT_ENV: "1"})
    step.extra["states"] = sorted(p.relative_to(project).as_posix() for p in (project / "data" / "ckpt").rglob("*.pt"))
    step.extra["lock"] = lock(project)
    return step


@pytest.fixture(scope="module")
def resumed(project, killed_training) -> Step:
    """Step 3: plain dvc repro: resumes training from the checkpoint and finishes the pipeline."""
    step = repro(project)
    assert step.code == 0, step.output[-3000:]
    step.extra["metrics"] = (project / "metrics" / "variants" / "cnn.json").read_text()
    step.extra["history"] = (project / "data" / "models" / "cnn" / "seed0" / "history.csv").read_text()
    return step


@pytest.fixture(scope="module")
def killed_reruns(project, resumed) -> dict[str, Step]:
    """Step 4: prepare (re-run over its finished output), crop and generate run by hand side by side, each
    SIGKILLed before its new output is in place."""
    before = snapshot(project / "data" / "prepared")
    steps = killed_stages(project, {"prepare": "prepared", "crop": "cropped", "generate": "generated"})
    steps["prepare"].extra["unchanged"] = snapshot(project / "data" / "prepared") == before
    return steps


@pytest.fixture(scope="module")
def noop(project, killed_reruns) -> Step:
    """Step 5: dvc repro once more, with the killed runs' temp dirs lying beside the outputs."""
    outputs = [project / "data" / name for name in ("prepared", "models", "eval")] + [project / "metrics"]
    before = {p: snapshot(p) for p in outputs}
    mtimes = {p: p.stat().st_mtime_ns for p in project.joinpath("data", "models", "cnn").rglob("*")}
    step = repro(project)
    step.extra["unchanged"] = before == {p: snapshot(p) for p in outputs} and mtimes == {
        p: p.stat().st_mtime_ns for p in project.joinpath("data", "models", "cnn").rglob("*")
    }
    return step


@pytest.fixture(scope="module")
def queued(project, noop) -> dict:
    """Step 6: two experiments queued with different lr, run by two parallel queue workers."""
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "pipeline run"], project)
    for lr in QUEUED_LR:
        dvc(project, "exp", "run", "--queue", "-S", f"variants.cnn.lr={lr}", TARGET)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "dvc", "exp", "run", "--run-all", "-j", "2"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        dvc(project, "queue", "stop", check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    shown = json.loads(dvc(project, "exp", "show", "--json").stdout)
    return {"run": result.stdout + result.stderr, "experiments": _experiments(shown)}


def _experiments(shown: list[dict]) -> list[dict]:
    """The experiment revisions (rev, name, data) of `dvc exp show --json`: baseline -> experiments -> revs."""
    return [rev for baseline in shown for exp in baseline.get("experiments") or [] for rev in exp.get("revs") or []]


def _cached_model_file(project: Path, rev: str, name: str) -> str:
    """The first file of data/models/cnn named `name` (config.yaml, or e.g. seed0's history.csv) as experiment `rev`
    recorded it in the DVC cache."""
    stages = yaml.safe_load(run(["git", "show", f"{rev}:dvc.lock"], project).stdout)["stages"]
    out = next(o for o in stages["train@cnn"]["outs"] if o["path"] == "data/models/cnn")
    cache = project / ".dvc" / "cache" / "files" / "md5"
    listing = json.loads((cache / out["md5"][:2] / out["md5"][2:]).read_text())
    md5 = next(e["md5"] for e in sorted(listing, key=lambda e: e["relpath"]) if e["relpath"].split("/")[-1] == name)
    return (cache / md5[:2] / md5[2:]).read_text()


def _cached_model_config(project: Path, rev: str) -> dict:
    """data/models/cnn/config.yaml as experiment `rev` recorded it in the DVC cache."""
    return yaml.safe_load(_cached_model_file(project, rev, "config.yaml"))


@case(
    "Runs",
    "kill -9 during prepare (first run), right before its output would be moved into place",
    "ERROR: failed to reproduce 'prepare': failed to run: python stages/prepare.py, exited with {status}",
    "no data/prepared and no dvc.lock entry for prepare, so DVC caches nothing; only a hidden "
    ".prepared.tmp-<pid>-<random> dir beside it",
)
def test_kill_during_prepare_leaves_no_output(project, killed_prepare):
    assert killed_prepare.code != 0
    assert killed_prepare.line("ERROR:") == expect(
        test_kill_during_prepare_leaves_no_output, status=killed_prepare.kill_status()
    )
    assert not (project / "data" / "prepared").exists() and "prepare" not in killed_prepare.extra["lock"]
    assert len(killed_prepare.data) == 1 and killed_prepare.data[0].startswith(".prepared.tmp-")


@case(
    "Runs",
    "the next dvc repro after a prepare killed mid-write",
    "",
    "the leftover .prepared.tmp-* (its process is gone) is deleted before prepare writes again; never taken for output",
    shown="nothing: prepare succeeds silently",
)
def test_leftover_temp_dir_removed_by_next_run(project, killed_training):
    assert (project / "data" / "prepared" / "meta.json").is_file() and "prepare" in killed_training.extra["lock"]
    assert not [name for name in killed_training.data if name.startswith(".prepared.")]


@case(
    "Runs",
    "kill -9 during training, right after epoch 1 of 2",
    "ERROR: failed to reproduce 'train@cnn': failed to run: python stages/train.py cnn, exited with {status}",
    "the resume state data/ckpt/cnn/<run key>/seed0.pt (epoch 1) is kept; no data/models/cnn output and no "
    "dvc.lock entry for train@cnn",
)
def test_kill_during_training_keeps_resume_state(project, killed_training):
    assert killed_training.line("ERROR:") == expect(
        test_kill_during_training_keeps_resume_state, status=killed_training.kill_status()
    )
    assert len(killed_training.extra["states"]) == 1 and killed_training.extra["states"][0].endswith("/seed0.pt")
    assert not (project / "data" / "models" / "cnn").exists() and "train@cnn" not in killed_training.extra["lock"]


@case(
    "Runs",
    "dvc repro after training was killed",
    "resuming from data/ckpt/cnn/{key}/seed0.pt after epoch 1",
    "training continues at epoch 2 and ends with exactly the metrics and history of an uninterrupted run "
    "(same seed, CPU); the resume state is deleted after success",
)
def test_repro_after_kill_resumes_with_same_metrics(project, killed_training, resumed, straight_runs):
    key = Path(killed_training.extra["states"][0]).parent.name
    assert expect(test_repro_after_kill_resumes_with_same_metrics, key=key) in resumed.output
    assert not (project / "data" / "ckpt" / "cnn").exists()
    assert resumed.extra["metrics"] == straight_runs[0]["metrics"]
    assert _without_times(resumed.extra["history"]) == _without_times(straight_runs[0]["history"])


@case(
    "Runs",
    "kill -9 while prepare re-runs over an existing output",
    "",
    "the previous data/prepared stays complete and unchanged until the new one is ready (nothing finished is "
    "lost); the killed run's temp dir is removed by the next write of data/prepared",
    shown=KILLED_SHOWN,
)
def test_kill_during_rerun_keeps_previous_output(killed_reruns):
    step = killed_reruns["prepare"]
    assert step.code == -9 and step.extra["unchanged"], step.output[-3000:]
    assert len([name for name in step.data if name.startswith(".prepared.tmp-")]) == 1


@case(
    "Runs",
    "kill -9 during crop, before data/cropped is moved into place",
    "",
    "no data/cropped and no data/cropped_square: nothing for DVC to cache",
    shown=KILLED_SHOWN,
)
def test_kill_during_crop_leaves_no_output(project, killed_reruns):
    killed_crop = killed_reruns["crop"]
    assert killed_crop.code == -9, killed_crop.output[-3000:]
    assert not (project / "data" / "cropped").exists() and not (project / "data" / "cropped_square").exists()
    assert any(name.startswith(".cropped.tmp-") for name in killed_crop.data)


@case(
    "Runs",
    "kill -9 during generate, after the generator trained, before data/generated is moved into place",
    "",
    "no data/generated and no metrics/generate.json: nothing for DVC to cache (a rerun trains again, resuming "
    "from data/ckpt/generate when killed mid-training)",
    shown=KILLED_SHOWN,
)
def test_kill_during_generate_leaves_no_output(project, killed_reruns):
    killed = killed_reruns["generate"]
    assert killed.code == -9, killed.output[-3000:]
    assert not (project / "data" / "generated").exists() and not (project / "metrics" / "generate.json").exists()
    assert any(name.startswith(".generated.tmp-") for name in killed.data)


@case(
    "Runs",
    "dvc repro of a finished pipeline (with killed runs' temp dirs lying beside the outputs)",
    "Stage 'train@cnn' didn't change, skipping",
    "a no-op: only the always-changed fingerprint stage runs (its output unchanged); every output file is byte- and "
    "mtime-identical; the temp dirs are not taken for outputs",
)
def test_rerun_is_a_noop(noop):
    assert noop.code == 0 and set(re.findall(r"Running stage '([^']+)'", noop.output)) == {"fingerprint"}
    assert expect(test_rerun_is_a_noop) in noop.output.splitlines()
    assert noop.extra["unchanged"]


@case(
    "Runs",
    "two experiments queued (lr 0.01 and 0.001), run by `dvc exp run --run-all -j 2` (it starts the two queue "
    "workers `dvc queue start -j 2` would, and waits for them)",
    "Reproducing experiment '{name}'",
    "both finish; dvc exp show --json lists each with its own lr and its own metrics; the model each cached "
    "records its own lr (no crossed outputs)",
)
def test_two_queued_experiments_do_not_interfere(project, queued):
    experiments = queued["experiments"]
    lrs = sorted(str(e["data"]["params"]["params.yaml"]["data"]["variants"]["cnn"]["lr"]) for e in experiments)
    assert lrs == sorted(QUEUED_LR), json.dumps(experiments)[:3000]
    for e in experiments:  # each queued run's log is followed (and shown) in turn
        assert expect(test_two_queued_experiments_do_not_interfere, name=e["name"]) in queued["run"].splitlines()
    metrics = [e["data"]["metrics"]["metrics/variants/cnn.json"]["data"] for e in experiments]
    assert all(0.0 <= m["test"]["top1"] <= 1.0 for m in metrics)
    histories = []
    for e in experiments:
        lr = e["data"]["params"]["params.yaml"]["data"]["variants"]["cnn"]["lr"]
        assert _cached_model_config(project, e["rev"])["lr"] == lr
        histories.append(_cached_model_file(project, e["rev"], "history.csv"))
    assert _without_times(histories[0]) != _without_times(histories[1])  # each trained with its own lr (both
    # tiny models may end at chance, so their test metrics can coincide; their training losses cannot)


def _without_times(history: str) -> list[str]:
    rows = [line.split(",") for line in history.splitlines()]  # drop the timings (*_time_s)
    keep = [i for i, name in enumerate(rows[0]) if not name.endswith("_time_s")]
    return [",".join(row[i] for i in keep) for row in rows]


@pytest.fixture(scope="module")
def straight_runs(project, queued) -> list[dict]:
    """Step 7: train + evaluate twice in a row without interruption (in this process, one thread)."""
    from finegrain.params import load_params

    train_variant, evaluate_variant = stage_module("train").train, stage_module("evaluate").evaluate

    runs, cwd = [], os.getcwd()
    try:
        os.chdir(project)
        for _ in range(2):
            shutil.rmtree("data/models/cnn", ignore_errors=True)
            train_variant(load_params(), "cnn")
            evaluate_variant(load_params(), "cnn")
            runs.append(
                {
                    "metrics": Path("metrics/variants/cnn.json").read_text(),
                    "history": Path("data/models/cnn/seed0/history.csv").read_text(),
                    "best": torch.load("data/models/cnn/seed0/best.pt", weights_only=True)["state_dict"],
                }
            )
    finally:
        os.chdir(cwd)
    return runs


@case(
    "Runs",
    "the same variant trained twice with the same seed on CPU",
    "",
    "bit-identical: the same metrics file bytes, history (less timings) and best.pt tensors",
    shown="nothing: train and evaluate succeed twice",
)
def test_same_seed_bit_identical(straight_runs):
    first, second = straight_runs
    assert first["metrics"] == second["metrics"]
    assert _without_times(first["history"]) == _without_times(second["history"])
    assert first["best"].keys() == second["best"].keys()
    assert all(torch.equal(first["best"][k], second["best"][k]) for k in first["best"])
