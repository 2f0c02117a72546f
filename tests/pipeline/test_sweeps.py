"""Sweeps across machines on DVC's own mechanism: two "machines" (clones made by tools/slurm_sweep.sh, run as SLURM
array tasks 0 and 1 without SLURM) each `dvc exp run --temp -S ...` and `dvc exp push` to a bare git remote with a
local-directory DVC remote; a third clone runs `finegrain sweep collect` and sees both experiments' metrics."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import yaml
from conftest import REPO, TINY_OVERRIDES, deep_merge, dvc, make_project, run

from finegrain.sweep import experiments, markdown, sweep_table

SWEEP = "# lr sweep, one experiment per line\nvariants.cnn.lr=0.003\n\nvariants.cnn.lr=0.03\n"
LRS = [0.003, 0.03]
ENV = {"PYTHONPATH": str(REPO / "src"), "FINEGRAIN_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _rev(name: str, params: dict, metrics: dict | None = None) -> dict:
    files = {f"metrics/variants/{v}.json": {"data": m} for v, m in (metrics or {}).items()}
    files["metrics/prepare.json"] = {"error": {"type": "FileNotFoundError"}}
    data = {"rev": name * 8, "params": {"params.yaml": {"data": params}}, "metrics": files}
    return {"rev": name * 8, "name": name, "data": data}


def test_sweep_table_keeps_the_params_that_differ_and_each_variants_metrics():
    base = {"train": {"epochs": 2, "seeds": [0]}, "variants": {"a": {"lr": 0.1}}}
    show = [
        {"rev": "workspace", "name": None, "data": _rev("w", base)["data"], "experiments": None},
        {
            **_rev("o", base, {"a": {"test": {"top1": 0.9}}}),
            "experiments": None,
        },  # an older commit: no sweep of its own
        {
            **_rev("b", base),
            "experiments": [
                {"name": "one", "revs": [_rev("1", base, {"a": {"test": {"top1": 0.5, "top1_std": 0.1}, "seeds": 2}})]},
                {
                    "name": "two",
                    "revs": [_rev("2", {**base, "variants": {"a": {"lr": 0.2}}}, {"a": {"test": {"top1": 0.7}}})],
                },
                {"name": "failed", "revs": [{"rev": "f" * 8, "name": "failed", "data": None}]},
            ],
        },
    ]
    baselines, found = experiments(show)
    assert [e.name for e in baselines] == ["b"] and [e.name for e in found] == ["1", "2"]
    table = sweep_table(baselines, found)
    assert list(table.columns) == ["experiment", "rev", "baseline", "variants.a.lr", "a test.top1", "a test.top1_std"]
    assert table["variants.a.lr"].tolist() == [0.1, 0.2] and table["a test.top1"].tolist() == [0.5, 0.7]
    assert table["baseline"].tolist() == ["bbbbbbb", "bbbbbbb"]
    text = markdown(table)
    assert text.splitlines()[2:] == [
        "| 1 | 1111111 | bbbbbbb | 0.1000 | 0.5000 | 0.1000 |",
        "| 2 | 2222222 | bbbbbbb | 0.2000 | 0.7000 |  |",
    ]


def _sweep_task(task: int, bare, tmp_path, check: bool = True) -> subprocess.CompletedProcess:
    env = {
        **ENV,
        "SLURM_ARRAY_TASK_ID": str(task),
        "SLURM_ARRAY_JOB_ID": "77",
        "SWEEP_GIT": str(bare),
        "SWEEP_WORKDIR": str(tmp_path / f"machine{task}"),
        "SWEEP_TARGETS": "evaluate@cnn",
    }
    return run(["bash", str(REPO / "tools" / "slurm_sweep.sh")], tmp_path, check=check, env=env)


def _git(cwd, *args: str) -> str:
    return run(["git", *args], cwd).stdout.strip()


@pytest.mark.slow
def test_two_machines_push_experiments_and_one_command_collects_them(tmp_path):
    variants = {"cnn": {"data": "prepared", "init": "none", "lr": 0.003, "epochs": 1}}
    project = make_project(
        tmp_path / "project", deep_merge(TINY_OVERRIDES, {"variants": variants, "report": {"claims": []}})
    )
    bare, store = tmp_path / "remote.git", tmp_path / "dvc-store"
    run(["git", "init", "-q", "--bare", str(bare)], tmp_path)
    dvc(project, "remote", "add", "-d", "shared", str(store))
    (project / "sweep.txt").write_text(SWEEP)
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "sweep setup")
    branch = _git(project, "rev-parse", "--abbrev-ref", "HEAD")
    _git(project, "push", "-q", str(bare), f"HEAD:refs/heads/{branch}")
    _git(bare, "symbolic-ref", "HEAD", f"refs/heads/{branch}")

    missing = _sweep_task(2, bare, tmp_path, check=False)
    assert missing.returncode == 2
    assert (
        missing.stderr.strip().splitlines()[-1] == "error: SWEEP_FILE: sweep.txt has no experiment for task 2 (0-based)"
    )

    produced = {}
    for task in (0, 1):
        done = _sweep_task(task, bare, tmp_path)
        assert f"task {task}: pushed experiment sweep-77-{task}" in done.stdout
        machine = tmp_path / f"machine{task}" / f"finegrain-sweep-77-{task}"
        ref = _git(machine, "for-each-ref", "--format=%(refname)", "refs/exps/")
        assert ref.endswith(f"/sweep-77-{task}"), ref
        produced[f"sweep-77-{task}"] = (
            yaml.safe_load(_git(machine, "show", f"{ref}:metrics/variants/cnn.json")),
            yaml.safe_load(_git(machine, "show", f"{ref}:dvc.lock")),
        )
        assert not (machine / "data").exists()  # --temp: the machine's workspace stayed as it was
    assert produced["sweep-77-0"][0] != produced["sweep-77-1"][0]  # so the table cannot pass by swapping rows
    for _, lock in produced.values():  # `dvc exp push` sent the outputs to the default DVC remote too
        model = next(o for o in lock["stages"]["train@cnn"]["outs"] if o["path"] == "data/models/cnn")
        digest = model["md5"].removesuffix(".dir")
        assert (store / "files" / "md5" / digest[:2] / f"{digest[2:]}.dir").is_file()

    collector = tmp_path / "collector"
    run(["git", "clone", "-q", str(bare), str(collector)], tmp_path)
    command = [sys.executable, "-m", "finegrain", "sweep", "collect"]
    empty = run([*command, "--no-pull"], collector, check=False, env=ENV)
    assert empty.returncode == 2 and empty.stderr.strip().splitlines() == [
        "error: no experiments here (no --remote given): run `dvc exp run` and `dvc exp push` first "
        "(tools/slurm_sweep.sh)"
    ]
    collected = run(command, collector, env=ENV)
    assert "2 experiments -> data/sweeps/sweep.md, data/sweeps/sweep.csv" in collected.stdout
    assert sorted(_git(collector, "for-each-ref", "--format=%(refname:lstrip=-1)", "refs/exps/").split()) == sorted(
        produced
    )
    table = pd.read_csv(collector / "data" / "sweeps" / "sweep.csv").set_index("experiment")
    assert sorted(table.index) == sorted(produced)
    assert (collector / "data" / "sweeps" / "sweep.md").read_text() in collected.stdout
    for task, name in enumerate(sorted(produced)):
        metrics, _ = produced[name]
        assert table.loc[name, "variants.cnn.lr"] == LRS[task]
        for metric in ("top1", "macro_f1"):
            assert table.loc[name, f"cnn test.{metric}"] == metrics["test"][metric], (name, metric)
        assert table.loc[name, "cnn val.top1"] == metrics["val"]["top1"]
    assert not (collector / "data" / "models").exists()  # the table needs no outputs: they stay on the DVC remote
