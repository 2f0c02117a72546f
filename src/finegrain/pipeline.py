"""Which optional stages a run needs, from its params: crop, generate, add_generated and pretrain each make an input
only some variants read (through their data input or init, or the pretrain and generate inputs those need in turn).

`finegrain presets apply` comments the others out of dvc.yaml (`#off: `, finegrain/presets/stages.py); the
fingerprint stage, which runs first on every repro, refuses params that read a stage dvc.yaml has off.
"""

from __future__ import annotations

import re

from finegrain.errors import ConfigError
from finegrain.params import Params

OPTIONAL = ("crop", "generate", "add_generated", "pretrain")
OFF = "#off: "
"""The prefix of every line of a stage that is off in dvc.yaml."""

CROPS = ("cropped", "cropped_square")


def stage_readers(params: Params) -> dict[str, str]:
    """Each optional stage `params` needs -> the first key that reads its output (e.g. {'crop': 'variants.x.data'})."""
    readers: dict[str, str] = {}
    inputs: dict[str, str] = {}  # data input -> the first key reading it
    for name in params.variants:
        cfg = params.variant(name)
        inputs.setdefault(cfg.data, f"variants.{name}.data")
        if cfg.init == "simclr":
            readers.setdefault("pretrain", f"variants.{name}.init")
    if "pretrain" in readers:
        inputs.setdefault(params.pretrain.input, "pretrain.input")
    if "augmented" in inputs:
        readers.setdefault("generate", inputs["augmented"])
        readers.setdefault("add_generated", inputs["augmented"])
        inputs.setdefault(params.generate.input, "generate.input")
    for data in CROPS:
        if data in inputs:
            readers.setdefault("crop", inputs[data])
    return readers


def needed_stages(params: Params) -> set[str]:
    """The optional stages `params` needs."""
    return set(stage_readers(params))


def off_stages(pipeline_text: str) -> set[str]:
    """The stages of a dvc.yaml text that are off (their lines commented out with OFF)."""
    return set(re.findall(rf"^{re.escape(OFF)}  ([A-Za-z_][\w@-]*):", pipeline_text, re.MULTILINE))


def check_stage_set(params: Params, pipeline_text: str) -> None:
    """Refuse, in one line, params that read the output of a stage the dvc.yaml text has off."""
    for stage, key in stage_readers(params).items():
        if stage in off_stages(pipeline_text):
            raise ConfigError(
                f"params.yaml: {key}: reads the output of stage {stage}, which dvc.yaml has off (#off:, written by "
                "`finegrain presets apply` for a preset none of whose variants read it); apply the preset again "
                "with this change (--set), or `git checkout dvc.yaml`"
            )
