"""Load and validate params.yaml once; everything downstream trusts the validated objects.

Errors are one line naming the key, e.g. ``params.yaml: variants.cnn.lr: must be > 0 (got -1)``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from finegrain.augment.names import RECIPE_NAMES
from finegrain.data.catalog import DATASET_SOURCES, WITH_BOXES
from finegrain.errors import ConfigError
from finegrain.generate.config import GenerateCfg
from finegrain.models.names import MOD_NAMES, is_known_model
from finegrain.report.config import ClaimCfg, TableCfg
from finegrain.ssl.config import PretrainCfg
from finegrain.strict_yaml import safe_load_unique

DATA_INPUTS = ("prepared", "cropped", "cropped_square", "augmented")
"""Data inputs a variant can train on (each is a directory data/<input> some stage produces)."""

INITS = ("none", "hub", "lite0", "simclr")
"""Initial weights a variant can start from (each is a directory data/weights/<init>)."""

LITE0_MODELS = ("tf_efficientnet_lite0", "efficientnet_lite0")
"""Models the offline `lite0` ImageNet weights fit: tf_ (TF 'SAME' padding) reproduces the original logits exactly."""

INTERPOLATED_VARIANT_KEYS = ("data", "init")
"""Keys dvc.yaml interpolates from each variant (``${item.data}``), so every variant must set them."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaseCfg(_Strict):
    seed: int = Field(0, ge=0)
    device: str = "auto"
    threads: int = Field(0, ge=0, description="torch intra-op threads; 0 = torch's default")

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if v in ("auto", "cpu", "cuda", "mps") or (v.startswith("cuda:") and v[5:].isdigit()):
            return v
        raise ValueError(f"expected auto, cpu, cuda, cuda:<N> or mps (got {v!r})")


class SyntheticCfg(_Strict):
    train_per_class: int = Field(100, gt=0)
    val_per_class: int = Field(30, gt=0)
    test_per_class: int = Field(50, gt=0)
    size_px: int = Field(128, ge=32)


class DataCfg(_Strict):
    dataset: str = "synthetic"
    source: Literal["embedded", "local", "official", "mirror"] = "embedded"
    root: str | None = None
    split_seed: int = Field(0, ge=0)
    val_fraction: float = Field(0.15, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.15, ge=0.0, lt=1.0)
    synthetic: SyntheticCfg = SyntheticCfg()

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        if v not in DATASET_SOURCES:
            raise ValueError(f"unknown dataset {v!r}; expected one of {', '.join(sorted(DATASET_SOURCES))}")
        return v

    @model_validator(mode="after")
    def _source(self) -> DataCfg:
        sources = DATASET_SOURCES[self.dataset]
        if self.source not in sources:
            raise ValueError(
                f"source: dataset {self.dataset!r} supports source {' | '.join(sources)} (got {self.source!r})"
            )
        if self.source in ("local", "mirror") and not self.root:
            where = "a directory" if self.source == "local" else "the mirror's base URL or directory"
            raise ValueError(f"root: source {self.source!r} needs data.root ({where})")
        scheme = self.root.partition("://")[0] + "://" if self.root and "://" in self.root else None
        readable = ("http://", "https://", "file://") if self.source == "mirror" else ()
        if scheme and self.source in ("local", "mirror") and scheme.lower() not in readable:
            expected = "http://, https://, file:// or a directory" if readable else "a directory"
            raise ValueError(
                f"root: unsupported URL scheme {scheme!r} for source {self.source!r}; expected {expected} "
                f"(got {self.root!r})"
            )
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("test_fraction: val_fraction + test_fraction must be < 1")
        return self


class PrepareCfg(_Strict):
    size_px: int = Field(
        128, ge=16, description="stored images are size_px x size_px (short side resize + centre crop)"
    )
    max_bad_fraction: float = Field(0.02, ge=0.0, le=1.0)
    shard_images: int = Field(4096, gt=0)
    workers: int = Field(0, ge=0, description="decode processes; 0 = one per core")


class DetectorCfg(_Strict):
    """crop.detector: an mmdet detector, trained here on the train split's boxes or given as config + checkpoint."""

    config: str = Field("tiny", min_length=1, description="tiny | an mmdet config: a path, or under mmdet/.mim/configs")
    checkpoint: str | None = Field(None, description="path or URL: the weights (train false) or the start (train true)")
    classes: list[str] = Field(default_factory=list, description="train false: detector classes kept; [] = all")
    train: bool = True
    labels: Literal["object", "per_class"] = "object"
    image_px: int = Field(0, ge=0, description="detector input size (long side); 0 = the stored size")
    iters: int = Field(200, gt=0)
    max_time_s: float = Field(0.0, ge=0.0, description="training wall-clock cap; 0 = none (deterministic)")
    batch_size: int = Field(16, gt=0)
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.05, ge=0.0)
    warmup_iters: int = Field(50, ge=0)
    holdout: float = Field(0.0, ge=0.0, lt=1.0, description="seeded share of boxed train images kept for evaluation")
    seed: int = Field(0, ge=0)
    cfg_options: dict[str, Any] = Field(default_factory=dict, description="mmengine overrides, dotted keys")

    @model_validator(mode="after")
    def _consistent(self) -> DetectorCfg:
        if not self.train and not self.checkpoint:
            raise ValueError("checkpoint: a detector that is not trained here (train: false) needs a checkpoint")
        if self.train and self.classes:
            raise ValueError("classes: only for train: false (a detector trained here detects the dataset's boxes)")
        if self.checkpoint and "://" not in self.checkpoint and not Path(self.checkpoint).is_file():
            raise ValueError(f"checkpoint: no such file {self.checkpoint!r}")
        return self


class CropCfg(_Strict):
    mode: Literal["none", "gt", "mmdet"] = "mmdet"
    margin: float = Field(0.1, ge=0.0, le=2.0, description="square crops: extra border as a fraction of the box side")
    size_px: int = Field(64, ge=16)
    score_thr: float = Field(0.3, ge=0.0, le=1.0, description="mmdet: the top box is used when its score reaches this")
    fallback: Literal["full", "best"] = Field("full", description="below score_thr: full image, or the best box anyway")
    train_boxes: Literal["gt", "predicted"] = Field("gt", description="mmdet: train split crops (no GT box: predicted)")
    device: str = "auto"
    threads: int = Field(1, ge=0, description="torch threads; 0 = torch's default (FINEGRAIN_THREADS wins)")
    batch_size: int = Field(16, gt=0, description="detector inference batch")
    detector: DetectorCfg = DetectorCfg()

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        return BaseCfg._device(v)


class TripletCfg(_Strict):
    weight: float = Field(1.0, ge=0.0)
    margin: float = Field(1.0, gt=0.0)
    mining: Literal["random", "semi-hard", "hard"] = "random"


class MixCfg(_Strict):
    mode: Literal["none", "cutmix", "mixup", "random"] = "none"
    cutmix_alpha: float = Field(1.0, gt=0.0)
    mixup_alpha: float = Field(1.0, gt=0.0)


class ElasticNetCfg(_Strict):
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="L1 share: lam * (alpha * L1 + (1 - alpha) * L2)")
    lam: float = Field(0.0, ge=0.0, description="0 = off")


def known_model(v: str) -> str:
    """A model name create_model can build (finegrain's own, torchvision or timm)."""
    if not is_known_model(v):
        raise ValueError(f"unknown model {v!r}; expected small_cnn or a torchvision/timm model name")
    return v


def _pixel_eps(v: Any) -> Any:
    """ε in [0, 1] pixel units, also written as a fraction such as '4/255'."""
    if isinstance(v, str) and "/" in v:
        num, _, den = v.partition("/")
        try:
            return float(num) / float(den)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"expected a number or a fraction like 4/255 (got {v!r})") from None
    return v


class AdvCfg(_Strict):
    """Adversarial training: each training sample is replaced by its attacked version with probability `prob`."""

    method: Literal["none", "fgsm", "pgd"] = "none"
    eps: float = Field(4 / 255, gt=0.0, le=1.0, description="L∞ radius in [0, 1] pixel units, e.g. 4/255")
    prob: float = Field(0.5, gt=0.0, le=1.0)
    steps: int = Field(5, gt=0, description="pgd iterations")
    alpha: float | None = Field(None, gt=0.0, description="pgd step; null = 2.5 * eps / steps")

    _eps = field_validator("eps", "alpha", mode="before")(_pixel_eps)


class FeaturesCfg(_Strict):
    """Cached frozen-backbone features (mode frozen): the backbone runs once per split, the head trains on them."""

    cache: Literal["auto", "on", "off"] = Field(
        "auto", description="auto = on only when exactly equivalent to running the backbone every epoch"
    )
    views: int = Field(1, gt=0, description="augmented views cached per training image (augment other than none)")


class TrainCfg(_Strict):
    """One variant's resolved training config (the `train` defaults with the variant merged over them)."""

    data: str
    init: str
    model: str = "small_cnn"
    mode: Literal["full", "frozen", "two_phase"] = "full"
    epochs: int = Field(10, gt=0)
    batch_size: int = Field(32, gt=0)
    optimizer: Literal["sgd", "adamw"] = "adamw"
    lr: float = Field(1e-3, gt=0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(1e-4, ge=0.0)
    scheduler: Literal["none", "step", "cosine", "plateau"] = "cosine"
    warmup_epochs: int = Field(0, ge=0)
    step_size: int = Field(7, gt=0)
    gamma: float = Field(0.1, gt=0.0, le=1.0)
    plateau_patience: int = Field(2, ge=0)
    early_stopping_patience: int = Field(0, ge=0, description="epochs without val improvement; 0 = off")
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    augment: str = "basic"
    image_size_px: int = Field(64, ge=16)
    train_images: int | None = Field(None, gt=0, description="few-shot: seeded stratified subset of the train split")
    seeds: list[Annotated[int, Field(ge=0)]] = Field(default_factory=lambda: [0], min_length=1)
    phase1_epochs: int = Field(1, ge=0, description="two_phase: epochs with the backbone frozen")
    phase2_lr: float = Field(1e-5, gt=0, description="two_phase: lr after unfreezing")
    dropout: float | None = Field(None, ge=0.0, lt=1.0)
    num_workers: int = Field(0, ge=0)
    model_args: dict[str, Any] = Field(default_factory=dict, description="builder options, e.g. small_resnet blocks")
    mods: dict[str, Any] = Field(default_factory=dict, description="architecture changes, see models.mods")
    loss: Literal["ce", "tcel", "triplet"] = "ce"
    triplet: TripletCfg = TripletCfg()
    mix: MixCfg = MixCfg()
    elastic_net: ElasticNetCfg = ElasticNetCfg()
    adv: AdvCfg = AdvCfg()
    features: FeaturesCfg = FeaturesCfg()
    memory_format: Literal["contiguous", "channels_last"] = Field(
        "contiguous", description="training tensors' layout; measure per device and model (bench/formats.py)"
    )
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="training autocast dtype; fp16 (CUDA only) adds a GradScaler; measure per device"
    )
    nproc: int = Field(1, gt=0, description="data-parallel processes (torchrun); batch_size is the global batch")
    sync_batchnorm: bool = Field(False, description="nproc > 1: convert BatchNorm to SyncBatchNorm (CUDA only)")

    @field_validator("data")
    @classmethod
    def _data(cls, v: str) -> str:
        if v not in DATA_INPUTS:
            raise ValueError(f"no stage produces data input {v!r}; expected one of {', '.join(DATA_INPUTS)}")
        return v

    @field_validator("init")
    @classmethod
    def _init(cls, v: str) -> str:
        if v not in INITS:
            raise ValueError(f"unknown init {v!r}; expected one of {', '.join(INITS)}")
        return v

    _model = field_validator("model")(known_model)

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v: list[int]) -> list[int]:
        repeated = next((seed for i, seed in enumerate(v) if seed in v[:i]), None)
        if repeated is not None:
            raise ValueError(f"seed {repeated} is listed twice; each seed is one more run of the variant")
        return v

    @field_validator("augment")
    @classmethod
    def _augment(cls, v: str) -> str:
        if v not in RECIPE_NAMES:
            raise ValueError(f"unknown augment recipe {v!r}; expected one of {', '.join(RECIPE_NAMES)}")
        return v

    @field_validator("mods")
    @classmethod
    def _mods(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in v:
            if key not in MOD_NAMES:
                raise ValueError(f"unknown mod {key!r}; expected one of {', '.join(MOD_NAMES)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> TrainCfg:
        if self.loss in ("tcel", "triplet") and not self.mods.get("embedding_head"):
            raise ValueError(f"mods: loss {self.loss!r} needs mods.embedding_head (an embedding for the triplets)")
        if self.loss in ("tcel", "triplet") and self.mix.mode != "none":
            raise ValueError("mix: triplet losses need hard labels; set mix.mode: none")
        if self.init == "lite0" and self.model not in LITE0_MODELS:
            raise ValueError(f"init: 'lite0' weights fit models {' | '.join(LITE0_MODELS)} only (got {self.model!r})")
        if self.mode == "two_phase" and self.phase1_epochs >= self.epochs:
            raise ValueError(
                f"phase1_epochs: must be < epochs ({self.epochs}) in two_phase mode (got {self.phase1_epochs})"
            )
        if self.features.cache == "on":
            if self.mode != "frozen":
                raise ValueError(f"features.cache: 'on' needs mode: frozen (got {self.mode!r})")
            if self.mix.mode != "none" or self.adv.method != "none":
                raise ValueError("features.cache: 'on' needs mix.mode none and adv.method none (pixel space)")
            if self.nproc > 1:
                raise ValueError(f"features.cache: 'on' trains in one process; set nproc: 1 (got {self.nproc})")
        if self.batch_size % self.nproc:
            raise ValueError(
                f"batch_size: the global batch must be divisible by nproc ({self.nproc}) (got {self.batch_size})"
            )
        return self


class RobustCfg(_Strict):
    """evaluate.robust: accuracy under pixel-space FGSM/PGD for each ε, on a fixed test subset."""

    images: int = Field(128, ge=0, description="seeded stratified test subset; 0 = off")
    eps: list[float] = Field(default_factory=lambda: [0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255], min_length=1)
    attacks: list[Literal["fgsm", "pgd"]] = Field(default_factory=lambda: ["fgsm", "pgd"])
    pgd_steps: int = Field(5, gt=0)
    pgd_alpha: float | None = Field(None, gt=0.0, description="null = 2.5 * eps / pgd_steps")
    seed: int = Field(0, ge=0)

    @field_validator("eps", mode="before")
    @classmethod
    def _eps_list(cls, v: Any) -> Any:
        return [_pixel_eps(e) for e in v] if isinstance(v, list) else v

    @field_validator("eps")
    @classmethod
    def _eps_range(cls, v: list[float]) -> list[float]:
        bad = [e for e in v if not 0.0 <= e <= 1.0]
        if bad:
            raise ValueError(f"every ε must be in [0, 1] pixel units (got {bad[0]!r})")
        return v

    _alpha = field_validator("pgd_alpha", mode="before")(_pixel_eps)


class ExplainCfg(_Strict):
    """evaluate.explain: heatmap overlays, feature-map grid and faithfulness on fixed test subsets."""

    images: int = Field(8, ge=0, description="test images with heatmap overlays; 0 = none")
    methods: list[Literal["gradcam", "gradcam++", "scorecam"]] = Field(default_factory=lambda: ["gradcam"])
    target_layer: str = Field("auto", min_length=1, description="a module of the network, or auto")
    feature_layers: list[str] = Field(default_factory=list, description="[] = the last conv of each resolution")
    feature_channels: int = Field(8, gt=0)
    faithfulness_images: int = Field(32, ge=0, description="0 = no faithfulness score")
    topk: float = Field(0.1, gt=0.0, lt=1.0, description="fraction of pixels deleted for the drop scores")
    seed: int = Field(0, ge=0)


class EvaluateCfg(_Strict):
    batch_size: int = Field(128, gt=0)
    robust: RobustCfg = RobustCfg()
    explain: ExplainCfg = ExplainCfg()


class GateCfg(_Strict):
    metric: str = "test.top1"
    tolerance: float = Field(0.04, ge=0.0, description="largest allowed drop of `metric`, unless per_variant says")
    per_variant: dict[str, float] = Field(default_factory=dict, description="variant -> its own tolerance")

    def tolerance_of(self, variant: str) -> float:
        return self.per_variant.get(variant, self.tolerance)


class ReportCfg(_Strict):
    """report: the preset (and scale) params.yaml came from, and the claims the report stage judges."""

    preset: str | None = None
    scale: str | None = Field(None, description="the preset's scale, e.g. full | cpu; claims may be limited to some")
    claims: list[ClaimCfg] = Field(default_factory=list)
    tables: list[TableCfg] = Field(
        default_factory=list, description="the report's own tables, printed with ours beside (rows not run: blank)"
    )


class Params(_Strict):
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
                raise ValueError(
                    f"{name}: a variant name is a file name and a params key: letters, digits, '_', '-' (no '.': "
                    f"DVC would read variants.{name} as nested keys)"
                )
        return v

    def variant(self, name: str) -> TrainCfg:
        """The named variant merged over the shared `train` defaults (validated at load)."""
        if name not in self.variants:
            raise ConfigError(f"params.yaml: variants: no variant {name!r}; defined: {', '.join(self.variants)}")
        cfg = _resolve_variant(name, self.train, self.variants[name])
        if cfg.init == "simclr" and (cfg.model, cfg.model_args) != (self.pretrain.model, self.pretrain.model_args):
            raise ConfigError(
                f"params.yaml: variants.{name}.init: 'simclr' weights are a pretrain.model {self.pretrain.model!r} "
                f"backbone with model_args {self.pretrain.model_args} (got {cfg.model!r}, {cfg.model_args})"
            )
        return cfg


def _resolve_variant(name: str, defaults: dict[str, Any], overrides: dict[str, Any] | None) -> TrainCfg:
    overrides = overrides or {}
    for key in INTERPOLATED_VARIANT_KEYS:
        if key not in overrides:
            raise ConfigError(f"params.yaml: variants.{name}: missing required key {key!r} (dvc.yaml interpolates it)")
    try:
        return TrainCfg(**{**defaults, **overrides})
    except ValidationError as err:
        raise ConfigError(_one_line(err, f"variants.{name}", overrides)) from None


def _one_line(err: ValidationError, prefix: str = "", given: dict[str, Any] | None = None) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    key = ".".join(p for p in (prefix, loc) if p)
    msg = first["msg"].removeprefix("Value error, ")
    field, sep, rest = msg.partition(": ")
    if sep and all(p.isidentifier() for p in field.split(".")):  # cross-field checks name their field: "root: ..."
        key, msg = f"{key}.{field}" if key else field, rest
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif (
        "input" in first and first["type"] != "missing" and not isinstance(first["input"], dict) and "(got " not in msg
    ):
        msg = f"{msg} (got {first['input']!r})"
    return f"params.yaml: {key}: {msg}"


RUN_CONTENT = ("variants", "report")
"""Groups of params.yaml that describe the run (what is trained and claimed) rather than defaults; likewise
gate.per_variant, which names the run's variants. Every other key of params.yaml equals its schema default."""


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
        raise ConfigError(_one_line(err).replace("params.yaml", str(path), 1)) from None
    unknown_train = set(params.train) - set(TrainCfg.model_fields)
    if unknown_train:
        raise ConfigError(f"{path}: train.{sorted(unknown_train)[0]}: unknown key")
    if not params.variants:
        raise ConfigError(f"{path}: variants: define at least one variant")
    for name in params.variants:
        params.variant(name)
    if machine:
        from finegrain.runtime import check_runtime

        check_runtime(params, str(path))
    return params
