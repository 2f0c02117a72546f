"""params.yaml group `generate`: the generators, how many images they make, how they are judged and added."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from finegrain.data.catalog import DATA_INPUTS
from finegrain.schema import Strict

METHODS = ("dcgan", "ddpm")
DIFFAUGMENT = ("color", "translation", "cutout")
"""The DCGAN's DiffAugment operations (finegrain.generate.dcgan.diff_augment)."""


class DCGANCfg(Strict):
    size_px: Literal[16, 32, 64] = 16
    epochs: int = Field(100, gt=0)
    batch_size: int = Field(32, ge=2)
    lr: float = Field(2e-4, gt=0.0, description="Adam, generator")
    lr_d: float = Field(2e-3, gt=0.0, description="Adam, discriminator (two time-scale update rule)")
    beta1: float = Field(0.5, ge=0.0, lt=1.0)
    nz: int = Field(64, gt=0)
    ngf: int = Field(16, gt=0)
    ndf: int = Field(16, gt=0)
    aux_weight: float = Field(3.0, ge=0.0, description="AC-GAN auxiliary classifier term weight; 0 = off")
    mode_seeking: float = Field(0.3, ge=0.0, description="MSGAN diversity term weight; 0 = off")
    diffaugment: str = Field(
        "translation", description="DiffAugment policy: comma-separated color, translation, cutout"
    )
    ema_power: float = Field(0.75, gt=0.0, description="EMA of G: decay 1 - (1 + step) ** -power, max 0.999")

    @field_validator("diffaugment")
    @classmethod
    def _policy(cls, v: str) -> str:
        unknown = sorted(set(filter(None, v.split(","))) - set(DIFFAUGMENT))
        if unknown:
            raise ValueError(f"unknown {unknown}; expected a comma-separated subset of {', '.join(DIFFAUGMENT)} or ''")
        return v


class DDPMCfg(Strict):
    size_px: int = Field(16, ge=8, description="must be divisible by 2 ** (len(channels) - 1)")
    epochs: int = Field(48, gt=0)
    batch_size: int = Field(32, gt=0)
    lr: float = Field(2e-3, gt=0.0, description="AdamW peak (warm-up, then cosine)")
    channels: list[int] = Field(default_factory=lambda: [32, 64], min_length=1)
    attention: bool = Field(False, description="self-attention at the lowest resolution")
    train_timesteps: int = Field(1000, gt=1)
    sample_steps: int = Field(8, gt=0, description="DDIM steps")
    guidance: float = Field(4.0, ge=0.0, description="classifier-free guidance scale; 1 = conditional only")
    cond_drop: float = Field(0.1, ge=0.0, lt=1.0, description="training: share of labels replaced by 'no class'")
    snr_gamma: float = Field(5.0, ge=0.0, description="Min-SNR-gamma loss weighting; 0 = plain MSE")
    ema_power: float = Field(0.75, gt=0.0, description="EMA of the UNet: decay 1 - (1 + step) ** -power, max 0.9999")

    @model_validator(mode="after")
    def _divisible(self) -> DDPMCfg:
        if self.size_px % 2 ** (len(self.channels) - 1):
            raise ValueError(f"size_px: must be divisible by 2 ** (len(channels) - 1) (got {self.size_px})")
        return self


class GenAugmentCfg(Strict):
    method: Literal["dcgan", "ddpm"] = "ddpm"
    ratio: float = Field(0.25, ge=0.0, description="generated images added per real training image, per class")


class GenQualityCfg(Strict):
    classifier_epochs: int = Field(30, gt=0, description="small_cnn trained on the real training split")
    classifier_lr: float = Field(3e-3, gt=0.0, description="AdamW peak (warm-up, then cosine)")
    size_px: int | None = Field(
        None, ge=16, description="the judge's size (real and generated compared at it); None = smallest generator size"
    )
    fid_size_px: int = Field(64, ge=32, description="EfficientNet-Lite0 input size for FID features")
    fid_images: int = Field(300, ge=4, description="images per compared set (generated, real val, real train)")
    kid_subsets: int = Field(100, gt=0, description="KID: random subsets of half the images; mean and std over them")


class GenerateCfg(Strict):
    input: str = Field("cropped", description="data input whose training split the generators learn")
    methods: list[Literal["dcgan", "ddpm"]] = Field(
        default_factory=lambda: ["ddpm"], min_length=1, description="dcgan | ddpm; DCGAN on request (params.yaml)"
    )
    per_class: int = Field(100, gt=0, description="generated images per class and method")
    checkpoint_every: int = Field(5, gt=0, description="epochs between resume states (data/ckpt/generate)")
    dcgan: DCGANCfg = DCGANCfg()
    ddpm: DDPMCfg = DDPMCfg()
    augment: GenAugmentCfg = GenAugmentCfg()
    quality: GenQualityCfg = GenQualityCfg()

    @field_validator("input")
    @classmethod
    def _input(cls, v: str) -> str:
        allowed = [d for d in DATA_INPUTS if d != "augmented"]
        if v not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)} (got {v!r})")
        return v

    @field_validator("methods")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"each method once (got {v})")
        return v

    @property
    def judge_size_px(self) -> int:
        """The recognisability judge's image size: quality.size_px, or the smallest size of the listed generators."""
        if self.quality.size_px is not None:
            return self.quality.size_px
        return min(getattr(self, m).size_px for m in self.methods)

    @model_validator(mode="after")
    def _judge_size(self) -> GenerateCfg:
        sizes = {m: getattr(self, m).size_px for m in self.methods}
        if self.quality.size_px is not None and self.quality.size_px > min(sizes.values()):
            raise ValueError(
                f"quality.size_px: the judge must not compare at more pixels than a generator makes "
                f"(got {self.quality.size_px}, generator sizes {sizes}); null = the smallest"
            )
        return self

    @model_validator(mode="after")
    def _augment_method(self) -> GenerateCfg:
        if self.augment.method not in self.methods:
            raise ValueError(f"augment: method {self.augment.method!r} is not in methods {self.methods}")
        return self
