"""params.yaml group `pretrain`: SimCLR pretraining of the backbone that `init: simclr` loads."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from finegrain.data.catalog import DATA_INPUTS
from finegrain.models.names import known_model
from finegrain.schema import Strict


class PretrainCfg(Strict):
    """SimCLR on a data input's training split; the backbone goes to data/weights/simclr (`init: simclr`)."""

    input: str = Field("cropped", description="data input whose training split (labels unused) is pretrained on")
    model: str = "small_cnn"
    model_args: dict[str, Any] = Field(default_factory=dict)
    epochs: int = Field(15, gt=0)
    batch_size: int = Field(32, ge=2, description="2 x batch_size views per step; negatives = 2 x batch_size - 2")
    image_size_px: int = Field(32, ge=16)
    optimizer: Literal["sgd", "lars"] = "sgd"
    lr: float = Field(0.02, gt=0.0, description="peak lr (linear warm-up, then cosine to 0)")
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(5e-4, ge=0.0)
    warmup_epochs: int = Field(1, ge=0)
    temperature: float = Field(0.5, gt=0.0, description="NT-Xent temperature")
    hidden_dim: int = Field(512, gt=0, description="projection head")
    out_dim: int = Field(128, gt=0)
    min_scale: float = Field(0.3, gt=0.0, le=1.0, description="random resized crop: smallest area share")
    cj_strength: float = Field(0.5, ge=0.0, description="colour jitter strength (0.5 for small images, 1 for ImageNet)")
    blur: float = Field(0.5, ge=0.0, le=1.0, description="Gaussian blur probability")
    grayscale: float = Field(
        1.0, ge=0.0, le=1.0, description="random grayscale probability (SimCLR: 0.2; 1 = colour-free views)"
    )
    augment_impl: Literal["batched", "lightly"] = Field("batched", description="see ssl.views")
    augment_on: Literal["auto", "cpu", "device"] = Field(
        "auto", description="where batched views are made: device = the training device; auto = device when batched"
    )
    seeds: list[int] = Field(
        default_factory=lambda: [0, 1, 2],
        min_length=1,
        description="one backbone per seed; variant seed k (init: simclr) loads backbone k",
    )
    knn_k: int = Field(20, gt=0)
    knn_t: float = Field(0.1, gt=0.0)

    @field_validator("input")
    @classmethod
    def _input(cls, v: str) -> str:
        if v not in DATA_INPUTS:
            raise ValueError(f"expected one of {', '.join(DATA_INPUTS)} (got {v!r})")
        return v

    _model = field_validator("model")(known_model)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or min(v) < 0:
            raise ValueError(f"expected distinct seeds >= 0 (got {v})")
        return v

    @model_validator(mode="after")
    def _views_on_device(self) -> PretrainCfg:
        if self.augment_on == "device" and self.augment_impl != "batched":
            raise ValueError(
                "augment_on: 'device' (pretrain.augment_on) makes the batched views; lightly's per-image transform "
                "runs on the CPU: set augment_impl: batched or augment_on: auto or cpu"
            )
        return self
