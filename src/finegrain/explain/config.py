"""params.yaml group `evaluate.explain`: which heatmaps, feature maps and faithfulness scores evaluate makes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from finegrain.schema import Strict


class ExplainCfg(Strict):
    """evaluate.explain: heatmap overlays, feature-map grid and faithfulness on fixed test subsets."""

    images: int = Field(8, ge=0, description="test images with heatmap overlays; 0 = none")
    methods: list[Literal["gradcam", "gradcam++", "scorecam"]] = Field(default_factory=lambda: ["gradcam"])
    target_layer: str = Field("auto", min_length=1, description="a module of the network, or auto")
    feature_layers: list[str] = Field(default_factory=list, description="[] = the last conv of each resolution")
    feature_channels: int = Field(8, gt=0)
    faithfulness_images: int = Field(32, ge=0, description="0 = no faithfulness score")
    topk: float = Field(0.1, gt=0.0, lt=1.0, description="fraction of pixels deleted for the drop scores")
    seed: int = Field(0, ge=0)
