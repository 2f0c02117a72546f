"""Detector configs: the `tiny` RetinaNet derived from mmdet's bundled R18 config, or any mmdet config file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmengine.config import Config

from finegrain.errors import ConfigError

TINY = "tiny"
TINY_BASE = "retinanet/retinanet_r18_fpn_1x_coco.py"
"""The bundled config `tiny` starts from (under mmdet/.mim/configs)."""


def bundled_configs_dir() -> Path:
    """mmdet's bundled configs (mmdet/.mim/configs)."""
    import mmdet

    return Path(mmdet.__file__).parent / ".mim" / "configs"


def resolve_config_path(name: str) -> Path:
    """A config file: as given (absolute or relative to the working directory), else under mmdet's bundled configs."""
    for candidate in (Path(name), bundled_configs_dir() / name):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"params.yaml: crop.detector.config: no such file {name!r} (nor under {bundled_configs_dir()})")


def test_pipeline(image_px: int) -> list[dict]:
    """Inference pipeline for in-memory images: resize the long side to image_px, pack (boxes come back in input
    image coordinates through the scale factor)."""
    return [
        dict(type="mmdet.LoadImageFromNDArray"),
        dict(type="Resize", scale=(image_px, image_px), keep_ratio=True),
        dict(type="PackDetInputs", meta_keys=("img_id", "ori_shape", "img_shape", "scale_factor")),
    ]


def tiny_retinanet(num_classes: int, width: int = 16, channels: int = 64, stacked_convs: int = 2) -> dict:
    """mmdet's RetinaNet-R18 reduced for small images trained from scratch (~1 M params at width 16).

    Backbone base/stem channels `width` (64 = full R18), stages 2-4 into a 3-level FPN of `channels`, head of
    `stacked_convs` convs, anchor strides 8/16/32. From scratch, BN must train (norm_eval False) and no stage is
    frozen (frozen_stages -1); no pretrained init.
    """
    base = Config.fromfile(bundled_configs_dir() / TINY_BASE).model.to_dict()
    backbone = dict(base_channels=width, stem_channels=width, out_indices=(1, 2, 3), frozen_stages=-1, init_cfg=None)
    base["backbone"].update(norm_eval=False, **backbone)
    base["neck"].update(in_channels=[width * 2, width * 4, width * 8], out_channels=channels, start_level=0, num_outs=3)
    base["neck"].pop("add_extra_convs", None)
    head = dict(num_classes=num_classes, in_channels=channels, feat_channels=channels, stacked_convs=stacked_convs)
    base["bbox_head"].update(head)
    base["bbox_head"]["anchor_generator"]["strides"] = [8, 16, 32]
    return base


def build_config(
    config: str, class_names: list[str], image_px: int, cfg_options: dict[str, Any] | None = None, train: bool = True
) -> Config:
    """The full mmengine Config of a detector for `class_names` (train) or as published (`train` False).

    `tiny` builds `tiny_retinanet`; a file is loaded as is, and when training its head is resized to the classes and
    batch augments (e.g. LSJ's BatchFixedSizePad(1024)) are dropped. Either way `test_dataloader.dataset` gets a
    `type`, the class names and an in-memory test pipeline, which is what `init_detector` reads.
    """
    if config == TINY:
        cfg = Config(dict(default_scope="mmdet", model=tiny_retinanet(len(class_names))))
    else:
        cfg = Config.fromfile(resolve_config_path(config))
        if train:
            _set_num_classes(cfg.model, len(class_names))
    cfg.default_scope = cfg.get("default_scope", "mmdet")
    if "data_preprocessor" in cfg.model:
        cfg.model.data_preprocessor.batch_augments = None
    if train or "test_dataloader" not in cfg:
        cfg.test_dataloader = dict(
            batch_size=1,
            dataset=dict(
                type="BaseDetDataset",
                metainfo=dict(classes=tuple(class_names), palette="random"),
                pipeline=test_pipeline(image_px),
                lazy_init=True,
            ),
        )
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _set_num_classes(model: Any, n: int) -> None:
    """Set num_classes on every head of a model config (RetinaNet/FCOS bbox_head, Faster R-CNN roi_head, ...)."""
    if isinstance(model, dict):
        for key, value in model.items():
            if key == "num_classes":
                model[key] = n
            else:
                _set_num_classes(value, n)
    elif isinstance(model, list | tuple):
        for item in model:
            _set_num_classes(item, n)
