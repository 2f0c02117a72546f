"""Detector checkpoints as plain dicts (tensors and plain types only), loadable by init_detector with weights_only.

mmengine 0.10.7's own runner checkpoints hold numpy scalars and HistoryBuffers, which torch >= 2.6 refuses to load
(open-mmlab/mmengine#1655); a plain {'state_dict', 'meta': {'dataset_meta': {'classes'}}} loads everywhere.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from mmengine.config import Config

CONFIG_FILE = "config.py"
WEIGHTS_FILE = "detector.pth"


def save_detector(model: torch.nn.Module, cfg: Config, class_names: list[str], out_dir: Path, meta: dict) -> None:
    """Write out_dir/config.py and out_dir/detector.pth (state dict on CPU + class names + plain `meta`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg.dump(str(out_dir / CONFIG_FILE))
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(
        {"state_dict": state, "meta": {"dataset_meta": {"classes": tuple(class_names)}, **meta}},
        out_dir / WEIGHTS_FILE,
    )


def load_detector(config: str | Path | Config, checkpoint: str, device: str = "cpu") -> torch.nn.Module:
    """init_detector on a config (file or Config) and a checkpoint path or URL, in eval mode."""
    from mmdet.apis import init_detector

    cfg = Config.fromfile(str(config)) if not isinstance(config, Config) else copy_config(config)
    return init_detector(cfg, checkpoint, device=device)


def new_detector(cfg: Config, class_names: list[str], device: str, init_from: str | None = None) -> torch.nn.Module:
    """A detector to train: built from cfg with its own weight init (e.g. RetinaNet's prior-probability classifier
    bias), then, with `init_from` (path or URL), the checkpoint's weights whose shapes fit (a resized head does not)."""
    from mmdet.registry import MODELS
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    cfg = copy_config(cfg)
    init_default_scope(cfg.get("default_scope", "mmdet"))
    model = MODELS.build(cfg.model)
    mm_log = MMLogger.get_current_instance()  # init_weights logs every parameter's initialiser at INFO
    level = mm_log.level
    mm_log.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        mm_log.setLevel(level)
    if init_from:
        load_checkpoint(model, init_from, map_location="cpu", strict=False)
    model.cfg, model.dataset_meta = cfg, {"classes": tuple(class_names)}
    return model.to(device)


def copy_config(cfg: Config) -> Config:
    """A deep copy (building a model mutates its config dicts in place)."""
    return Config(cfg.to_dict())
