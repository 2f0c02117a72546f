"""dvc.yaml's deps are exactly the code each stage runs, so the cache never serves a result of code that changed.

For every stage of dvc.yaml (each foreach variant too, resolved by DVC itself), the `finegrain` modules its script can
import (import_closure: AST, imports inside functions included) must be covered by a declared dep, and a declared code
dep must cover nothing else, so an edit re-runs the stages that run the edited code and no others. The files the
stages open at run time are checked against the declared deps and outs on the tiny pipeline.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from conftest import REPO
from import_closure import import_closure, needed

SRC = REPO / "src"


def _stages() -> dict[str, dict]:
    """{stage name: {"script", "deps", "outs"}} of the repo's dvc.yaml, foreach stages resolved by DVC."""
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        stages = {}
        for stage in repo.index.stages:
            words = shlex.split(stage.cmd)
            scripts = [w for w in words if w.startswith("stages/") and w.endswith(".py")]
            assert words[0] == "python" and len(scripts) == 1, f"{stage.name}: cmd {stage.cmd!r}"
            stages[stage.name] = {
                "script": REPO / scripts[0],
                "deps": [Path(d.def_path) for d in stage.deps],
                "outs": [Path(o.def_path) for o in stage.outs],
            }
    return stages


STAGES = _stages()


def _covered(path: Path, declared: list[Path]) -> bool:
    return any(path == d or d in path.parents for d in declared)


def _code_deps(deps: list[Path]) -> list[Path]:
    return [d for d in deps if d.parts[0] in ("src", "stages")]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_deps_cover_the_stage_scripts_import_closure(name):
    stage = STAGES[name]
    closure = {p.relative_to(REPO) for p in needed(import_closure(stage["script"], SRC))}
    missing = sorted(str(p) for p in closure | {stage["script"].relative_to(REPO)} if not _covered(p, stage["deps"]))
    assert not missing, f"{name}: runs code that is not a dep in dvc.yaml: {', '.join(missing)}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_code_deps_cover_nothing_the_stage_does_not_run(name):
    """Narrow deps: an edit to code a stage never imports (e.g. the download code for prepare) does not re-run it."""
    stage = STAGES[name]
    runs = {p.relative_to(REPO) for p in needed(import_closure(stage["script"], SRC))} | {
        stage["script"].relative_to(REPO)
    }
    extra = []
    for dep in _code_deps(stage["deps"]):
        files = [p.relative_to(REPO) for p in (REPO / dep).rglob("*.py")] if (REPO / dep).is_dir() else [dep]
        extra += [str(f) for f in files if f not in runs and (f.name != "__init__.py" or f in runs)]
        if not any(f in runs for f in files):
            extra.append(f"{dep} (nothing in it runs)")
    assert not extra, f"{name}: deps cover code the stage never runs: {', '.join(sorted(set(extra)))}"


def test_prepare_does_not_depend_on_the_download_code():
    code = {str(p) for p in _code_deps(STAGES["prepare"]["deps"])}
    assert not code & {"src/finegrain/data", "src/finegrain/data/download.py", "src/finegrain/data/archives.py"}


PROJECT_FILES = ("data", "metrics", "stages", "params.yaml", "dvc.yaml")
"""What a stage may open in the project; the rest (.git, .dvc: dvclive and DVC internals) is not the stage's data."""
CACHES = (Path("data/ckpt"), Path("data/features"), Path("data/downloads"))
"""Keyed by content, rebuilt when missing, never DVC outputs (resume states, cached features, download cache)."""


def _dvclive_dirs(plots: list[Path]) -> list[Path]:
    """A declared dvclive plots dir (<live>/plots/metrics) stands for its dvclive dir, whose summary it keeps."""
    return [p.parents[1] for p in plots if p.parts[-2:] == ("plots", "metrics")]


@pytest.mark.slow
def test_stage_reads_and_writes_are_declared(tiny_project):
    """Every project file a stage opened in the tiny pipeline's run is a declared dep or out of that stage (reads),
    or a declared out (writes); the content-keyed caches aside."""
    log = tiny_project.parent / "opened.jsonl"
    undeclared: dict[str, set[str]] = {}
    for line in log.read_text().splitlines():
        record = json.loads(line)
        name = record["stage"]
        stage = STAGES.get(name) or _resolved_in(tiny_project, name)
        outs = [*stage["outs"], *_dvclive_dirs(stage["outs"]), *CACHES]
        read = [*stage["deps"], *outs, Path("params.yaml"), Path("dvc.yaml")]  # DVC refuses dvc.yaml as a dep
        for kind, allowed in (("read", read), ("written", outs)):
            for path in map(Path, record[kind]):
                if path.parts[0] in PROJECT_FILES and not _covered(path, allowed):
                    undeclared.setdefault(f"{name} {kind}", set()).add(str(path))
    assert not undeclared, f"stages opened files dvc.yaml does not declare for them: {undeclared}"


def _resolved_in(project: Path, name: str) -> dict:
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        stage = next(s for s in repo.index.stages if s.name == name)
        return {"deps": [Path(d.def_path) for d in stage.deps], "outs": [Path(o.def_path) for o in stage.outs]}
