"""params.yaml group `crop`: how images are cropped to their object, and the mmdet detector that finds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from finegrain.schema import Strict, device_name


class DetectorCfg(Strict):
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


class CropCfg(Strict):
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

    _device = field_validator("device")(device_name)
