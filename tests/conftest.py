"""Shared fixtures: a tiny real DVC project, built and reproduced once per session, that many tests read."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"

os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # stages run `python`
os.environ.setdefault("FINEGRAIN_THREADS", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
for key, value in {
    "GIT_AUTHOR_NAME": "finegrain-tests",
    "GIT_AUTHOR_EMAIL": "tests@finegrain.invalid",
    "GIT_COMMITTER_NAME": "finegrain-tests",
    "GIT_COMMITTER_EMAIL": "tests@finegrain.invalid",
}.items():
    os.environ.setdefault(key, value)

from finegrain import numerics  # noqa: E402

numerics.apply(os.environ.get(numerics.MODE_ENV, "portable"))  # as a stage does, before torch loads

import torch  # noqa: E402

torch.set_num_threads(1)

NUMERICS_MODULES = {
    # float results of two code paths, or of a model against a reference, compared: what a machine's arithmetic
    # could break. CI runs them a second time under native numerics capped below AVX2 (another machine), see .ci/run.
    "test_numerics.py", "train/test_features.py", "train/test_compute.py", "train/test_prefetch.py",
    "train/test_ddp.py", "train/test_multinode.py", "train/test_recipe.py", "train/test_syncs.py",
    "evaluate/test_eval_batch.py", "evaluate/test_eval_compute.py", "augment/test_batched.py", "augment/test_mix.py",
    "models/test_lite_weights.py", "models/test_deform.py", "models/test_attention.py", "explain/test_sharpness.py",
    "adversarial/test_attacks.py", "losses/test_triplet.py", "losses/test_create_loss.py", "generate/test_quality.py",
    "ssl/test_simclr.py",
}  # fmt: skip


def pytest_collection_modifyitems(items) -> None:
    """Mark every test of NUMERICS_MODULES `numerics` (pytest -m numerics)."""
    for item in items:
        relative = Path(str(item.fspath)).resolve().relative_to(REPO / "tests").as_posix()
        if relative in NUMERICS_MODULES:
            item.add_marker(pytest.mark.numerics)


TINY_OVERRIDES = {
    "data": {"synthetic": {"train_per_class": 24, "val_per_class": 8, "test_per_class": 10, "size_px": 64}},
    "prepare": {"size_px": 64},
    "crop": {"size_px": 32, "detector": {"iters": 10, "max_time_s": 20, "batch_size": 8, "warmup_iters": 2}},
    "train": {"epochs": 2, "image_size_px": 32, "batch_size": 16},
    "evaluate": {"robust": {"images": 48, "pgd_steps": 3}, "explain": {"images": 4, "faithfulness_images": 16}},
    "generate": {
        "methods": ["dcgan", "ddpm"],  # both generators' stage code runs in the tiny pipeline
        "per_class": 4,
        "dcgan": {"epochs": 1, "batch_size": 16, "ngf": 8, "ndf": 8},
        "ddpm": {"size_px": 16, "epochs": 1, "batch_size": 16, "channels": [8, 16], "sample_steps": 2},
        "quality": {"classifier_epochs": 1, "fid_images": 12},
    },
    "pretrain": {"epochs": 1, "batch_size": 32},
    "variants": {
        "cnn": {"data": "prepared", "init": "none", "lr": 0.003},
        "cnn_crop": {"data": "cropped", "init": "none", "lr": 0.003},
        "ssl_aug_adv": {  # the pretrain and generate stages' outputs, and FGSM training, in one variant
            "data": "augmented",
            "init": "simclr",
            "adv": {"method": "fgsm", "eps": "4/255", "prob": 0.5},
            "lr": 0.003,
        },
        "lite0_frozen": {
            "data": "prepared",
            "init": "lite0",
            "model": "tf_efficientnet_lite0",
            "mode": "frozen",
            "lr": 0.01,
            "epochs": 1,
        },
    },
    "report": {
        "claims": [{"text": "Detector crops beat full frames", "a": "cnn_crop", "b": "cnn", "expect": "greater"}]
    },
}


def stage_module(name: str):
    """stages/<name>.py as a module: tests call what the stage runs (e.g. `train`, `evaluate`) with its paths."""
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = (
            deep_merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "variants"
            else value
        )
    return out


def run(cmd: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command, return its result; on failure show its output in the assertion."""
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        )
    return result


def make_project(dest: Path, overrides: dict) -> Path:
    """A fresh git+DVC project with the repo's pipeline and code, params shrunk by `overrides`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", "stages", "src"):
        src = REPO / name
        (
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
            if src.is_dir()
            else shutil.copy(src, dest / name)
        )
    params = deep_merge(yaml.safe_load((REPO / "params.yaml").read_text()), overrides)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (dest / ".gitignore").write_text("/data/\n")
    (dest / "metrics").mkdir(exist_ok=True)
    run(["git", "init", "-q"], dest)
    run([sys.executable, "-m", "dvc", "init", "-q"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-q", "-m", "project"], dest)  # dvc exp and dvclive need a commit
    return dest


def dvc(project: Path, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc", *args], project, check=check, env=env)


def open_audit_env(log: Path) -> dict:
    """Environment under which every stage process logs the project files it opens to `log` (JSONL), see
    tests/pipeline/open_audit/sitecustomize.py."""
    audit = REPO / "tests" / "pipeline" / "open_audit"
    pythonpath = os.pathsep.join(p for p in (str(audit), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": pythonpath, "FINEGRAIN_OPEN_LOG": str(log), "FINEGRAIN_OPEN_LOG_SRC": str(REPO / "src")}


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory) -> Path:
    """The default pipeline at tiny scale, reproduced once and committed (read-only for tests)."""
    project = make_project(tmp_path_factory.mktemp("tiny") / "project", TINY_OVERRIDES)
    dvc(project, "repro", env=open_audit_env(project.parent / "opened.jsonl"))
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "tiny pipeline"], project)
    return project


@pytest.fixture
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip("../shared/datasets is not present")
    return SHARED_DATASETS


def two_class_sets(size: int = 24) -> tuple:
    """(train, val) of 16 / 8 random uint8 images in two classes (class 1 less green): a tiny learnable fit."""
    from torch.utils.data import TensorDataset

    from finegrain.augment.recipes import create_transforms
    from finegrain.data.transformed import Transformed

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (24, 3, size, size), dtype=torch.uint8, generator=g)
    labels = torch.arange(24) % 2
    images[labels == 1, 1] //= 3
    tf = create_transforms("none", size, train=False)
    return Transformed(TensorDataset(images[:16], labels[:16]), tf), Transformed(
        TensorDataset(images[16:], labels[16:]), tf
    )


class ToyGenerator:
    """A tiny GenerativeModel for `fit_generator`: a linear map trained by SGD. `noise` > 0 adds a random draw per
    step (resume tests check the saved RNG); `device_loss` returns the loss as a tensor, as the real models do (tests
    of the loop's device reads), else as a Python float."""

    def __init__(self, noise: float = 0.0, device_loss: bool = False) -> None:
        self.noise, self.device_loss = noise, device_loss
        self.w = torch.nn.Linear(3, 3)
        self.opt = torch.optim.SGD(self.w.parameters(), 0.1)

    def train_step(self, images, labels):
        out = self.w(images.mean((2, 3)))
        if self.noise:
            out = out + torch.randn(len(images), 3) * self.noise
        loss = out.square().mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": loss.detach() if self.device_loss else loss.item()}

    def state_dict(self):
        return {"w": self.w.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state):
        self.w.load_state_dict(state["w"])
        self.opt.load_state_dict(state["opt"])

    def sample(self, labels, generator=None):
        return torch.zeros(len(labels), 3, 4, 4)
