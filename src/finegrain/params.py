"""params.yaml: each package's group composed into `Params`, the checks across groups, and loading it once.

Everything downstream trusts the validated objects. Errors are one line naming the key, e.g.
``params.yaml: variants.cnn.lr: must be > 0 (got -1)``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from finegrain.crop.config import CropCfg
from finegrain.data.catalog import DATA_INPUTS, WITH_BOXES
from finegrain.data.config import DataCfg, PrepareCfg
from finegrain.errors import ConfigError
from finegrain.evaluate.config import EvaluateCfg
from finegrain.generate.config import GenerateCfg
from finegrain.models.names import INITS
from finegrain.report.config import GateCfg, ReportCfg
from finegrain.runtime import DEVICE_ENV, THREADS_ENV, BaseCfg, device_unavailable, resolve_device
from finegrain.schema import Strict, device_name, one_line
from finegrain.ssl.config import PretrainCfg
from finegrain.strict_yaml import safe_load_unique
from finegrain.train.config import INTERPOLATED_VARIANT_KEYS, TrainCfg, resolve_variant

RUN_CONTENT = ("variants", "report")
"""Groups of params.yaml that describe the run (what is trained and claimed) rather than defaults. Every other key
of params.yaml equals its schema default."""


class Params(Strict):
    base: BaseCfg = BaseCfg()
    data: DataCfg = DataCfg()
    prepare: PrepareCfg = PrepareCfg()
    crop: CropCfg = CropCfg()
    train: dict[str, Any] = Field(default_factory=dict)
    evaluate: EvaluateCfg = EvaluateCfg()
    gate: GateCfg = GateCfg()
    generate: GenerateCfg = GenerateCfg()
    pretrain: PretrainCfg = PretrainCfg()
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict)
    report: ReportCfg = ReportCfg()

    @model_validator(mode="after")
    def _claims(self) -> Params:
        for i, claim in enumerate(self.report.claims):
            unknown = [v for v in claim.variants() if v not in self.variants]
            if unknown:
                raise ValueError(f"report: claims[{i}] ({claim.text!r}) names no variant {unknown[0]!r}")
        return self

    @model_validator(mode="after")
    def _simclr_seeds(self) -> Params:
        for name, raw in self.variants.items():
            if raw.get("init") == "simclr":
                seeds = raw.get("seeds", self.train.get("seeds", [0]))
                missing = [s for s in seeds if s not in self.pretrain.seeds] if isinstance(seeds, list) else []
                if missing:
                    raise ValueError(
                        f"variants.{name}.seeds: seed(s) {missing} have no SimCLR backbone (pretrain.seeds "
                        f"{self.pretrain.seeds}): variant seed k loads backbone k; add them to pretrain.seeds"
                    )
        return self

    @model_validator(mode="after")
    def _crop_boxes(self) -> Params:
        needs_boxes = self.crop.mode == "gt" or (self.crop.mode == "mmdet" and self.crop.detector.train)
        if needs_boxes and self.data.dataset not in WITH_BOXES:
            uses = "crops to" if self.crop.mode == "gt" else "trains its detector on"
            raise ValueError(
                f"crop.mode: {self.crop.mode!r} {uses} the dataset's boxes and {self.data.dataset} has none; set "
                "crop.mode: none (full frames), or mmdet with a trained detector (crop.detector.train: false, "
                "checkpoint: ...)"
            )
        return self

    @field_validator("variants")
    @classmethod
    def _variant_names(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name in v:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", str(name)):
                why = f" (no '.': DVC would read variants.{name} as nested keys)" if "." in str(name) else ""
                raise ValueError(
                    f"{name}: a variant name is a file name and a params key: letters, digits, '_', '-'{why}"
                )
        return v

    def variant(self, name: str) -> TrainCfg:
        """The named variant merged over the shared `train` defaults (validated at load)."""
        if name not in self.variants:
            raise ConfigError(f"params.yaml: variants: no variant {name!r}; defined: {', '.join(self.variants)}")
        cfg = resolve_variant(name, self.train, self.variants[name])
        if cfg.init == "simclr" and (cfg.model, cfg.model_args) != (self.pretrain.model, self.pretrain.model_args):
            raise ConfigError(
                f"params.yaml: variants.{name}.init: 'simclr' weights are a pretrain.model {self.pretrain.model!r} "
                f"backbone with model_args {self.pretrain.model_args} (got {cfg.model!r}, {cfg.model_args})"
            )
        return cfg


def default_params() -> dict:
    """Every params group except RUN_CONTENT at its schema default (JSON types): what params.yaml holds (a test
    checks they agree) and what presets compose from. `train` holds TrainCfg's defaults except `data` and `init`."""
    groups = Params().model_dump(mode="json", exclude=set(RUN_CONTENT))
    groups["train"] = TrainCfg(data=DATA_INPUTS[0], init=INITS[0]).model_dump(
        mode="json", exclude=set(INTERPOLATED_VARIANT_KEYS)
    )
    return groups


def load_params(path: str | Path = "params.yaml", machine: bool = True) -> Params:
    """Read params.yaml with yaml.safe_load, validate every group and every variant, fail in one line.

    `machine`: also check this machine can run them (devices, FINEGRAIN_* variables); off to compose params here
    for another machine.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    try:
        raw = safe_load_unique(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        if "'\\t'" in problem:
            problem = "found a tab character where YAML expects spaces; indent with spaces"
        raise ConfigError(f"{path}: {where}{problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of parameter groups at the top level")
    try:
        params = Params(**raw)
    except ValidationError as err:
        raise ConfigError(one_line(err).replace("params.yaml", str(path), 1)) from None
    unknown_train = set(params.train) - set(TrainCfg.model_fields)
    if unknown_train:
        raise ConfigError(f"{path}: train.{sorted(unknown_train)[0]}: unknown key")
    if not params.variants:
        raise ConfigError(f"{path}: variants: define at least one variant")
    for name in params.variants:
        params.variant(name)
    if machine:
        check_machine(params, str(path))
    return params


def check_machine(params: Params, source: str = "params.yaml") -> None:
    """Fail at params load, in one line, when the environment overrides are malformed or a configured device is not
    on this machine: every stage loads params, so the first stage stops, not the one that needs the GPU."""
    threads = os.environ.get(THREADS_ENV)
    if threads is not None and not (threads.strip().isdigit()):
        raise ConfigError(
            f"{THREADS_ENV}: expected a whole number of threads >= 0, 0 = torch's default (got {threads!r})"
        )
    override = os.environ.get(DEVICE_ENV)
    if override is not None:
        try:
            device_name(override)
        except ValueError as err:
            raise ConfigError(f"{DEVICE_ENV}: {err}") from None
        devices = {DEVICE_ENV: override}
    else:
        devices = {f"{source}: base.device": params.base.device, f"{source}: crop.device": params.crop.device}
    for where, device in devices.items():
        reason = device_unavailable(device)
        if reason:
            raise ConfigError(f"{where}: {device!r} is not available on this machine ({reason}); use auto or cpu")
    fp16 = [name for name in params.variants if params.variant(name).precision == "fp16"]
    if fp16 and (device := resolve_device(params.base.device)).type != "cuda":
        raise ConfigError(
            f"{source}: variants.{fp16[0]}.precision: fp16 needs a CUDA device (training runs on {device}); use "
            "bf16 or fp32"
        )
