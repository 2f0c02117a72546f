"""params.yaml group `evaluate`: batch size, the robustness curve and the explanations."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictInt, field_validator

from finegrain.explain.config import ExplainCfg
from finegrain.schema import Strict, pixel_eps


class RobustCfg(Strict):
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
        return [pixel_eps(e) for e in v] if isinstance(v, list) else v

    @field_validator("eps")
    @classmethod
    def _eps_range(cls, v: list[float]) -> list[float]:
        bad = [e for e in v if not 0.0 <= e <= 1.0]
        if bad:
            raise ValueError(f"every ε must be in [0, 1] pixel units (got {bad[0]!r})")
        return v

    _alpha = field_validator("pgd_alpha", mode="before")(pixel_eps)


class EvaluateCfg(Strict):
    batch_size: StrictInt | Literal["auto"] = Field(
        "auto",
        description="test passes' batch; auto = the fastest a measured probe finds for the device (evaluate.batch), "
        "attacks and heatmaps then 128",
    )

    @field_validator("batch_size", mode="before")
    @classmethod
    def _positive_or_auto(cls, v: Any) -> Any:
        if v != "auto" and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
            raise ValueError(f"expected a positive integer or auto (got {v!r})")
        return v

    tta: Literal["none", "flip"] = Field("none", description="flip: test logits averaged with the flipped images'")
    robust: RobustCfg = RobustCfg()
    explain: ExplainCfg = ExplainCfg()
