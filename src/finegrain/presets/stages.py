"""A preset's stage set: dvc.yaml's optional stages that none of its variants reads are commented out.

`dvc exp apply` checks out every output of every stage dvc.yaml lists, and fails ("Checkout failed for following
targets", exit status 255) on an output that was never produced. A preset runs a subset of the pipeline (`dvc repro
report`: its variants and what they read), so the optional stages most presets never run (crop, generate,
add_generated, pretrain) would make every apply of its experiments fail, although it applied the params. `finegrain
presets apply` therefore writes the preset's stage set into dvc.yaml: it comments out (`#off: ` on every line) the
optional stages no variant needs and uncomments the ones it needs, so that after the preset's own run every stage of
its pipeline has an output to check out. Applying another preset, or `git checkout dvc.yaml`, turns them on again.
"""

from __future__ import annotations

import re
from pathlib import Path

from finegrain.params import Params
from finegrain.pipeline import OFF, OPTIONAL, needed_stages

_STAGE = re.compile(r"^  ([A-Za-z_][\w@-]*):")


def with_stage_set(text: str, off: set[str]) -> str:
    """dvc.yaml `text` with every optional stage on, then the stages in `off` commented out."""
    lines = [_on(line) for line in text.splitlines(keepends=True)]
    current = None
    for i, line in enumerate(lines):
        match = _STAGE.match(line)
        if match or re.match(r"^\S", line):
            current = match.group(1) if match else None
        if current in off and line.strip():
            lines[i] = OFF + line
    return "".join(lines)


def _on(line: str) -> str:
    return line[len(OFF) :] if line.startswith(OFF) else line


def write_stage_set(pipeline: Path, params: Params) -> list[str]:
    """Rewrite `pipeline` (dvc.yaml) with the optional stages `params` does not need commented out; returns them."""
    off = [stage for stage in OPTIONAL if stage not in needed_stages(params)]
    text = pipeline.read_text()
    new = with_stage_set(text, set(off))
    if new != text:
        tmp = pipeline.with_name(f".{pipeline.name}.tmp")
        tmp.write_text(new)
        tmp.replace(pipeline)
    return off
