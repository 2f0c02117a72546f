"""Helpers of the reliability battery: run a real stage script in-process and collect what the user sees."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import runpy
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from conftest import REPO, deep_merge
from PIL import Image

from finegrain.cli import run_stage

if str(REPO / "tests" / "datasets") not in sys.path:  # dataset_fixtures: official-format archives, HTTP server
    sys.path.append(str(REPO / "tests" / "datasets"))

BASE_PARAMS: dict = {
    "prepare": {"size_px": 16, "workers": 1, "max_bad_fraction": 0.5},
    "crop": {"mode": "none"},
    "variants": {"cnn": {"data": "prepared", "init": "none"}},
}
"""A minimal valid params.yaml; everything else takes the config's defaults."""


def cheap_evaluate() -> dict:
    """Turn evaluate's optional extras (robustness, explanations) off where the config has them: they are tested
    elsewhere and would only slow these runs down."""
    from finegrain.evaluate.config import EvaluateCfg

    fields = EvaluateCfg.model_fields
    cheap = {"robust": {"images": 0}, "explain": {"images": 0, "faithfulness_images": 0}}
    return {
        group: {key: value for key, value in values.items() if key in fields[group].annotation.model_fields}
        for group, values in cheap.items()
        if group in fields
    }


@dataclass
class Outcome:
    """What a stage run left for the user: exit code, its `error:` lines, the warnings it logged."""

    code: int
    errors: list[str]
    warnings: list[str]
    stderr: str = field(repr=False)

    @property
    def error(self) -> str:
        """The one `error: ...` line (asserts there is exactly one)."""
        assert self.code == 2 and len(self.errors) == 1, (self.code, self.errors, self.stderr[-2000:])
        return self.errors[0]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def write_params(project: Path, overrides: dict | None = None, base: dict | None = None) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    path = project / "params.yaml"
    path.write_text(yaml.safe_dump(deep_merge(BASE_PARAMS if base is None else base, overrides or {})))
    return path


def run_stage_here(project: Path, stage: str, *args: str) -> Outcome:
    """Run stages/<stage>.py's main through run_stage in `project` (cwd), in this process: the user's view."""
    main = runpy.run_path(str(REPO / "stages" / f"{stage}.py"))["main"]
    return run_main_here(project, main, f"stages/{stage}.py", *args)


def run_main_here(project: Path, main: Callable[[list[str]], None], *argv: str) -> Outcome:
    """Run `main` through finegrain.cli.run_stage with cwd `project` and sys.argv `argv`; collect what it shows."""
    handler, logger = _Collect(), logging.getLogger("finegrain")
    stderr, cwd, saved_argv = io.StringIO(), os.getcwd(), sys.argv
    logger.addHandler(handler)
    code = 0
    try:
        os.chdir(project)
        sys.argv = list(argv) or ["stage"]
        with contextlib.redirect_stderr(stderr):
            run_stage(main)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    finally:
        os.chdir(cwd)
        sys.argv = saved_argv
        logger.removeHandler(handler)
    text = stderr.getvalue()
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    return Outcome(code, errors, handler.messages, text)


def image_bytes(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def noise(seed: int, size: tuple[int, int] = (24, 20)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def huge_png(width: int, height: int) -> bytes:
    """A valid 1-bit black PNG of width x height in a few KB (built directly, never held in memory as pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = (b"\x00" + b"\x00" * ((width + 7) // 8)) * height
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(rows, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def class_tree(root: Path, extra: dict[str, bytes] | None = None, classes: tuple[str, ...] = ("a", "b")) -> Path:
    """<root>/<class>/<i>.jpg: 4 noise JPEGs per class (the same names in every class), plus `extra` files."""
    for c, name in enumerate(classes):
        for i in range(4):
            path = root / name / f"{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(image_bytes(noise(10 * c + i), "JPEG", quality=95))
    for rel, data in (extra or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def folder_params(root: Path, **prepare) -> dict:
    """params overrides: the imagefolder dataset at `root`, 1 test image in 4, no val split."""
    return {
        "data": {
            "dataset": "imagefolder",
            "source": "local",
            "root": str(root),
            "val_fraction": 0.0,
            "test_fraction": 0.25,
        },
        "prepare": prepare,
    }


def prepare_folder(tmp_path: Path, extra: dict[str, bytes], **prepare) -> tuple[Outcome, Path]:
    """Build a class tree with `extra` files and run the prepare stage on it; (outcome, project)."""
    root = class_tree(tmp_path / "photos", extra)
    project = tmp_path / "project"
    write_params(project, folder_params(root, **prepare))
    return run_stage_here(project, "prepare"), project


def stored(project: Path) -> dict[str, tuple[pd.Series, np.ndarray]]:
    """id -> (index row, stored HxWx3 image) of data/prepared."""
    out = project / "data" / "prepared"
    index = pd.read_parquet(out / "index.parquet")
    shards: dict[str, np.ndarray] = {}
    result = {}
    for _, row in index.iterrows():
        if row["shard"] not in shards:
            shards[row["shard"]] = np.load(out / row["shard"])
        result[row["id"]] = (row, shards[row["shard"]][row["row"]])
    return result


def leftovers(directory: Path) -> list[str]:
    """Hidden temp entries (atomic writes, extraction) left in a directory."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".")) if directory.is_dir() else []
