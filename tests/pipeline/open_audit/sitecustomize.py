"""Test-only: with FINEGRAIN_OPEN_LOG set, record the project files a stage opens (read or written) to that JSONL file.

tests/conftest.py puts this directory on PYTHONPATH for the tiny pipeline's `dvc repro`, so every stage process
logs {"stage", "read", "written"} at exit; test_dvc_deps.test_stage_reads_are_declared compares them with dvc.yaml.
Paths are relative to the project (the working directory) or, for code, to the repository ("src/...").
"""

import atexit
import json
import os
import re
import sys
from pathlib import Path

_LOG = os.environ.get("FINEGRAIN_OPEN_LOG")
_REPO_SRC = os.environ.get("FINEGRAIN_OPEN_LOG_SRC", "")
_TEMP = re.compile(r"^\.(.+)\.(tmp|old)-\d+-\w+$")  # finegrain.atomic's temp names -> the final name


def _install() -> None:
    root = os.getcwd()
    seen: dict[str, set[str]] = {"read": set(), "written": set()}

    def relative(path: str) -> str | None:
        full = os.path.normpath(os.path.join(root, path))
        for base, prefix in ((root, ""), (_REPO_SRC, "src")):
            if base and full.startswith(base + os.sep):
                parts = [_TEMP.sub(r"\1", p) for p in Path(os.path.relpath(full, base)).parts]
                return str(Path(prefix, *parts))
        return None

    def hook(event: str, args: tuple) -> None:
        if event != "open" or not isinstance(args[0], str | bytes | os.PathLike):
            return
        path = relative(os.fsdecode(args[0]))
        if path is None:
            return
        mode, flags = args[1], args[2] if len(args) > 2 else 0
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & (os.O_WRONLY | os.O_RDWR))
        seen["written" if writes else "read"].add(path)

    def dump() -> None:
        script = next((a for a in sys.argv if a.endswith(".py")), "")
        name = Path(script).stem + "".join(f"@{a}" for a in sys.argv[sys.argv.index(script) + 1 :][:1])
        if not script.startswith("stages/"):
            return
        with open(_LOG, "a") as fh:
            fh.write(json.dumps({"stage": name, **{k: sorted(v) for k, v in seen.items()}}) + "\n")

    sys.addaudithook(hook)
    atexit.register(dump)


if _LOG:
    _install()
