"""Reliability: nothing a user or a downloaded file supplies is executed (pickles, YAML tags, shell strings)."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import torch
from battery import REPO, run_main_here, run_stage_here
from cases import case, expect

from finegrain.models.trained import load_trained
from finegrain.train.checkpoint import load_state

SOURCES = sorted([*(REPO / "src" / "finegrain").rglob("*.py"), *(REPO / "stages").glob("*.py")])


class _Payload:
    """Unpickling this would create directory `marker` (a stand-in for running any code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def poisoned(path: Path, marker: Path, state: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**state, "extra": _Payload(marker)}, path)
    return path


@case(
    "Security",
    "a resume checkpoint (data/ckpt/...) carrying a pickle payload",
    "error: {path}: refusing to load: the checkpoint holds a reference to posix.mkdir, not only tensors "
    "(weights_only=True); delete {folder} (make clean-ckpt) to train from scratch",
    "the payload never runs (torch.load weights_only=True); training stops (exit 2) before touching anything",
)
def test_pickle_payload_in_resume_checkpoint(tmp_path):
    marker = tmp_path / "PWNED"
    path = poisoned(tmp_path / "data" / "ckpt" / "cnn" / "0123" / "seed0.pt", marker, {"epoch": 1, "model": {}})
    out = run_main_here(tmp_path, lambda argv: load_state(path))
    assert out.error == expect(test_pickle_payload_in_resume_checkpoint, path=path, folder=path.parent)
    assert not marker.exists()


@case(
    "Security",
    "a trained model (data/models/<variant>/seed0/best.pt) carrying a pickle payload, loaded by evaluate",
    "error: {path}: refusing to load: the checkpoint holds a reference to posix.mkdir, not only tensors "
    "(weights_only=True); run `dvc checkout` or `dvc repro` to restore the trained model",
    "the payload never runs; evaluate stops (exit 2)",
)
def test_pickle_payload_in_trained_model(tmp_path):
    marker = tmp_path / "PWNED"
    path = poisoned(tmp_path / "data" / "models" / "cnn" / "seed0" / "best.pt", marker, {"state_dict": {}})
    out = run_main_here(tmp_path, lambda argv: load_trained(tmp_path / "data" / "models" / "cnn", 0))
    assert out.error == expect(test_pickle_payload_in_trained_model, path=path)
    assert not marker.exists()


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    """Calls whose function is spelled `name` (e.g. 'torch.load') in the source."""
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) == name]


@case(
    "Security",
    "every checkpoint / feature-cache load in src/ and stages/ (static check of the source)",
    "",
    "every torch.load passes weights_only=True; no pickle/dill/joblib loads, no np.load(allow_pickle=True), no "
    "yaml.load/unsafe_load/full_load",
    shown="nothing: a static check of the source",
)
def test_every_load_is_weights_only():
    loads, problems = 0, []
    for path in SOURCES:
        text = path.read_text()
        tree = ast.parse(text)
        for call in _calls(tree, "torch.load"):
            loads += 1
            keywords = {k.arg: ast.unparse(k.value) for k in call.keywords}
            if keywords.get("weights_only") != "True":
                problems.append(f"{path.relative_to(REPO)}:{call.lineno}: torch.load without weights_only=True")
        for pattern in (r"\bpickle\.loads?\(", r"\bdill\.", r"\bjoblib\.load", r"allow_pickle\s*=\s*True"):
            problems += [f"{path.relative_to(REPO)}: {pattern}" for _ in re.findall(pattern, text)]
        problems += [
            f"{path.relative_to(REPO)}: {m}" for m in re.findall(r"\byaml\.(?:load|unsafe_load|full_load)\(", text)
        ]
    assert loads >= 3 and problems == []


@case(
    "Security",
    "params.yaml whose value is a !!python/object/apply:os.mkdir tag (any callable would do)",
    "",
    "yaml.safe_load never constructs it: the command does not run, the stage does not start",
    shown="a one-line error naming the tag (see the next case), never the command's effect",
)
def test_yaml_python_tag_is_not_executed(tmp_path):
    marker = tmp_path / "PWNED"
    (tmp_path / "params.yaml").write_text(f'base:\n  seed: !!python/object/apply:os.mkdir ["{marker}"]\n')
    code = run_stage_here(tmp_path, "prepare").code
    assert code != 0 and not marker.exists() and not (tmp_path / "data").exists()


@case(
    "Security",
    "params.yaml with a !!python/object/apply:os.mkdir tag: what the user sees",
    "error: params.yaml: line 2, column 9: could not determine a constructor for the tag "
    "'tag:yaml.org,2002:python/object/apply:os.mkdir'",
    "nothing runs (exit 2)",
)
def test_yaml_python_tag_is_one_line(tmp_path):
    (tmp_path / "params.yaml").write_text('base:\n  seed: !!python/object/apply:os.mkdir ["x"]\n')
    assert run_stage_here(tmp_path, "prepare").error == expect(test_yaml_python_tag_is_one_line)


@case(
    "Security",
    "every subprocess call in src/ and stages/ (static check: could a dataset name, URL or path reach a shell?)",
    "",
    "no shell=True, os.system, os.popen or *getoutput; every subprocess call passes an argument list",
    shown="nothing: a static check of the source",
)
def test_no_user_string_reaches_a_shell():
    problems = []
    for path in SOURCES:
        text = path.read_text()
        rel = path.relative_to(REPO)
        pattern = r"shell\s*=\s*True|\bos\.(?:system|popen|exec\w*|spawn\w*)\(|getoutput\(|getstatusoutput\("
        problems += [f"{rel}: {m}" for m in re.findall(pattern, text)]
        tree = ast.parse(text)
        for func in ("run", "Popen", "call", "check_call", "check_output"):
            for call in _calls(tree, f"subprocess.{func}"):
                if not call.args or not isinstance(call.args[0], ast.List | ast.Tuple):
                    problems.append(f"{rel}:{call.lineno}: subprocess.{func} without an argument list")
    assert problems == []
