"""params.yaml group `train` (the shared defaults) and a variant: the defaults with the variant merged over them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from finegrain.augment.names import BATCHABLE, RECIPE_NAMES
from finegrain.data.catalog import DATA_INPUTS
from finegrain.errors import ConfigError
from finegrain.models.names import INITS, LITE_MODELS, MOD_NAMES, known_model
from finegrain.schema import Strict, one_line, pixel_eps

INTERPOLATED_VARIANT_KEYS = ("data", "init")
"""Keys dvc.yaml interpolates from each variant (``${item.data}``), so every variant must set them."""


class TripletCfg(Strict):
    weight: float = Field(1.0, ge=0.0)
    margin: float = Field(1.0, gt=0.0)
    mining: Literal["random", "semi-hard", "hard"] = "random"


class MixCfg(Strict):
    mode: Literal["none", "cutmix", "mixup", "random"] = "none"
    cutmix_alpha: float = Field(1.0, gt=0.0)
    mixup_alpha: float = Field(1.0, gt=0.0)


class ElasticNetCfg(Strict):
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="L1 share: lam * (alpha * L1 + (1 - alpha) * L2)")
    lam: float = Field(0.0, ge=0.0, description="0 = off")


class AdvCfg(Strict):
    """Adversarial training: each training sample is replaced by its attacked version with probability `prob`."""

    method: Literal["none", "fgsm", "pgd"] = "none"
    eps: float = Field(4 / 255, gt=0.0, le=1.0, description="L∞ radius in [0, 1] pixel units, e.g. 4/255")
    prob: float = Field(0.5, gt=0.0, le=1.0)
    steps: int = Field(5, gt=0, description="pgd iterations")
    alpha: float | None = Field(None, gt=0.0, description="pgd step; null = 2.5 * eps / steps")

    _eps = field_validator("eps", "alpha", mode="before")(pixel_eps)


class FeaturesCfg(Strict):
    """Cached frozen-backbone features (mode frozen): the backbone runs once per split, the head trains on them."""

    cache: Literal["auto", "on", "off"] = Field(
        "auto", description="auto = val always, train unless mix/adv/nproc > 1; on = the same, rejecting those"
    )
    views: int = Field(1, gt=0, description="augmented views cached per training image (augment other than none)")


class EmaCfg(Strict):
    """An exponential moving average of the weights (timm ModelEmaV3), updated every optimizer step; when on, it is
    what validation scores and what the best weights are."""

    decay: float = Field(0.0, ge=0.0, lt=1.0, description="0 = off; e.g. 0.999")
    warmup: bool = Field(True, description="ramp the decay up over the first steps (1 - (1 + step) ** -2/3)")


class ResizeCfg(Strict):
    """Progressive resizing: training images grow linearly from `from_px` to image_size_px (evaluation stays at
    image_size_px)."""

    from_px: int | None = Field(None, ge=16, description="first epoch's size; null (or >= image_size_px) = off")
    until: float = Field(0.75, gt=0.0, le=1.0, description="fraction of the epochs after which image_size_px is used")


class TrainCfg(Strict):
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
    lr_interval: Literal["epoch", "step"] = Field(
        "epoch", description="step: cosine with linear warm-up recomputed every optimizer step (per phase)"
    )
    decay_norm_bias: bool = Field(True, description="false: no weight decay on norm and bias parameters (timm)")
    ema: EmaCfg = EmaCfg()
    resize: ResizeCfg = ResizeCfg()
    step_size: int = Field(7, gt=0)
    gamma: float = Field(0.1, gt=0.0, le=1.0)
    plateau_patience: int = Field(2, ge=0)
    early_stopping_patience: int = Field(0, ge=0, description="epochs without val improvement; 0 = off")
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    augment: str = "basic"
    augment_on: Literal["auto", "cpu", "device"] = Field(
        "auto",
        description="where training images are augmented: cpu = per sample in the loader; device = batched on the "
        "training device (augment.batched); auto = device on CUDA when the recipe is batchable, else cpu",
    )
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
    sampler: Literal["auto", "random", "pk"] = Field(
        "auto", description="random = shuffled; pk = P classes x pk_k images a batch; auto = pk for tcel/triplet"
    )
    pk_k: int = Field(4, ge=2, description="sampler pk: images per class in a batch (P = batch_size // pk_k)")
    mix: MixCfg = MixCfg()
    elastic_net: ElasticNetCfg = ElasticNetCfg()
    adv: AdvCfg = AdvCfg()
    features: FeaturesCfg = FeaturesCfg()
    memory_format: Literal["auto", "contiguous", "channels_last"] = Field(
        "auto", description="training tensors' layout; auto = the faster by a measured probe (train.compute)"
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="autocast dtype; auto = fp32 on CPU, bf16 on CUDA where supported else fp16 (train.compute)"
    )
    compile: bool = Field(False, description="torch.compile the training module (inductor; first steps compile)")
    checkpoint_every: int = Field(
        1, gt=0, description="epochs between resume states (written in a background thread; the last epoch always)"
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

    @property
    def val_batch_size(self) -> int:
        """Validation batches (no gradients): twice the training batch. Cached validation features are extracted
        in the same batches, so they are the bits validation computes (a batch size can change a kernel's sums)."""
        return self.batch_size * 2

    @property
    def batch_sampler(self) -> Literal["random", "pk"]:
        """`sampler` resolved: auto is pk for the triplet losses (every anchor gets a positive), else random."""
        if self.sampler == "auto":
            return "pk" if self.loss in ("tcel", "triplet") else "random"
        return self.sampler

    @model_validator(mode="after")
    def _consistent(self) -> TrainCfg:
        if self.loss in ("tcel", "triplet") and not self.mods.get("embedding_head"):
            raise ValueError(f"mods: loss {self.loss!r} needs mods.embedding_head (an embedding for the triplets)")
        if self.loss in ("tcel", "triplet") and self.mix.mode != "none":
            raise ValueError("mix: triplet losses need hard labels; set mix.mode: none")
        if self.batch_sampler == "pk":
            p = self.batch_size // self.pk_k
            if self.batch_size % self.pk_k or p < 2:
                raise ValueError(
                    f"sampler: pk needs batch_size a multiple of pk_k ({self.pk_k}) with at least 2 classes a batch "
                    f"(got batch_size {self.batch_size}); set pk_k or sampler: random"
                )
            if p % self.nproc:
                raise ValueError(f"sampler: pk splits whole classes among processes: P ({p}) must divide by nproc")
        if self.init in LITE_MODELS and self.model not in LITE_MODELS[self.init]:
            fits = " | ".join(LITE_MODELS[self.init])
            raise ValueError(f"init: {self.init!r} weights fit models {fits} only (got {self.model!r})")
        if self.mode == "two_phase" and self.phase1_epochs >= self.epochs:
            raise ValueError(
                f"phase1_epochs: must be < epochs ({self.epochs}) in two_phase mode (got {self.phase1_epochs})"
            )
        if self.lr_interval == "step" and self.scheduler not in ("cosine", "none"):
            raise ValueError(f"lr_interval: 'step' schedules cosine or none (got scheduler {self.scheduler!r})")
        if self.features.cache == "on":
            if self.mode != "frozen":
                raise ValueError(f"features.cache: 'on' needs mode: frozen (got {self.mode!r})")
            if self.mix.mode != "none" or self.adv.method != "none":
                raise ValueError("features.cache: 'on' needs mix.mode none and adv.method none (pixel space)")
            if self.nproc > 1:
                raise ValueError(f"features.cache: 'on' trains in one process; set nproc: 1 (got {self.nproc})")
        if self.augment_on == "device" and self.augment not in BATCHABLE:
            raise ValueError(
                f"augment_on: 'device' (train.augment_on) cannot run recipe {self.augment!r}, which is per-sample only "
                f"(batchable: {', '.join(BATCHABLE)}); set augment_on: auto or cpu"
            )
        if self.batch_size % self.nproc:
            raise ValueError(
                f"batch_size: the global batch must be divisible by nproc ({self.nproc}) (got {self.batch_size})"
            )
        return self


def unread_keys(cfg: TrainCfg) -> dict[str, str]:
    """Keys whose value `cfg` never reads -> the setting that would read them (e.g. momentum -> 'optimizer: sgd')."""
    reads = {
        "momentum": (cfg.optimizer == "sgd", "optimizer: sgd"),
        "step_size": (cfg.scheduler == "step" and cfg.lr_interval == "epoch", "scheduler: step"),
        "gamma": (cfg.scheduler in ("step", "plateau") and cfg.lr_interval == "epoch", "scheduler: step or plateau"),
        "plateau_patience": (cfg.scheduler == "plateau" and cfg.lr_interval == "epoch", "scheduler: plateau"),
        "warmup_epochs": (cfg.scheduler == "cosine", "scheduler: cosine"),
        "phase1_epochs": (cfg.mode == "two_phase", "mode: two_phase"),
        "phase2_lr": (cfg.mode == "two_phase", "mode: two_phase"),
        "triplet": (cfg.loss in ("tcel", "triplet"), "loss: tcel or triplet"),
        "pk_k": (cfg.batch_sampler == "pk", "sampler: pk"),
        "mix.cutmix_alpha": (cfg.mix.mode in ("cutmix", "random"), "mix.mode: cutmix or random"),
        "mix.mixup_alpha": (cfg.mix.mode in ("mixup", "random"), "mix.mode: mixup or random"),
        "adv.eps": (cfg.adv.method != "none", "adv.method: fgsm or pgd"),
        "adv.prob": (cfg.adv.method != "none", "adv.method: fgsm or pgd"),
        "adv.steps": (cfg.adv.method == "pgd", "adv.method: pgd"),
        "adv.alpha": (cfg.adv.method == "pgd", "adv.method: pgd"),
        "elastic_net.alpha": (cfg.elastic_net.lam > 0, "elastic_net.lam > 0"),
        "ema.warmup": (cfg.ema.decay > 0, "ema.decay > 0"),
        "resize.until": (cfg.resize.from_px is not None, "resize.from_px"),
        "features": (cfg.mode == "frozen", "mode: frozen"),
        "sync_batchnorm": (cfg.nproc > 1, "nproc > 1"),
    }
    return {key: needs for key, (read, needs) in reads.items() if not read}


def _set_in(overrides: dict[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = overrides
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def resolve_variant(name: str, defaults: dict[str, Any], overrides: dict[str, Any] | None) -> TrainCfg:
    """The variant `name`: its `overrides` merged over the `train` `defaults`, validated; one-line errors."""
    overrides = overrides or {}
    for key in INTERPOLATED_VARIANT_KEYS:
        if key not in overrides:
            raise ConfigError(f"params.yaml: variants.{name}: missing required key {key!r} (dvc.yaml interpolates it)")
    try:
        cfg = TrainCfg(**{**defaults, **overrides})
    except ValidationError as err:
        raise ConfigError(one_line(err, f"variants.{name}")) from None
    for key, needs in unread_keys(cfg).items():  # the variant's own keys: a shared default may serve other variants
        found, value = _set_in(overrides, key)
        if found:
            raise ConfigError(
                f"params.yaml: variants.{name}.{key}: not read without {needs} (got {value!r}); remove it from the "
                "variant, or set what reads it"
            )
    return cfg
