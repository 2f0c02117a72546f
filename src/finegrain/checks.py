"""Did each technique of a run work? Fixed rules, each with the figure that shows the answer.

A technique that did not work (a model that learned nothing, SimCLR below its own random init, generated images a
classifier cannot recognise, a detector no better than the full frame) is reported as not working, and the claims
that rest on it say so instead of comparing it as if it had worked. The rules are set here once, for every dataset;
they are not tuned to a run.

Each rule judges the figure's 95% confidence interval, not the point (a check that a coin could flip says nothing
about the technique): it **works** when the interval's lower bound clears the bar, **does not work** when its upper
bound stays below, and is **not shown** in between (more images or seeds would decide). Accuracies are binomial
(Wilson interval over the images judged, pooled over seeds); a mean IoU gets a normal interval from its per-image
spread.

Where the checks travel: the stage that makes a data input or initial weights records its checks with them (a
dataset's meta.json `checks`, data/weights/<init>/checks.json); train@<variant> copies those of its data and init
into data/models/<variant>/summary.json, where the report reads them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

LEARNED_MARGIN = 0.15
"""A variant learned: its test top-1 is at least the test split's majority-class share + this."""
SIMCLR_MIN_GAIN = 0.05
"""SimCLR worked: its final kNN val accuracy is at least its random-init kNN val accuracy + this."""
JUDGE_MIN_ACC = 0.6
"""Recognisability means something: the judge (a classifier of the real images) reaches this on real val images."""
GENERATED_MIN_SHARE = 0.5
"""Generated images work: the judge recognises at least this share of what it reaches on real val images."""
DETECTOR_MIN_IOU = 0.5
"""A detector works: its top box's mean test IoU reaches this (the usual detection threshold) and beats the full
frame's IoU with the ground-truth box."""


WORKS, NOT_SHOWN, DOES_NOT_WORK = "works", "not_shown", "does_not_work"
Z95 = 1.959963984540054
"""Two-sided 95% normal quantile."""


@dataclass(frozen=True)
class Check:
    """One technique's verdict: `works`, the `figure` (one line with its numbers) that shows why, and the `outcome`
    (works | not_shown | does_not_work; `works` is outcome == works)."""

    technique: str
    works: bool
    figure: str
    outcome: str = ""

    def to_dict(self) -> dict:
        return {**asdict(self), "outcome": self.outcome or (WORKS if self.works else DOES_NOT_WORK)}


def judged(technique: str, outcome: str, figure: str) -> Check:
    return Check(technique, outcome == WORKS, f"{figure}: {outcome.replace('_', ' ')}", outcome)


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion `successes` / `n` (n > 0)."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def against(interval: tuple[float, float], bar: float) -> str:
    """The outcome of a figure's interval against its bar."""
    low, high = interval
    return WORKS if low >= bar else DOES_NOT_WORK if high < bar else NOT_SHOWN


def _ci(interval: tuple[float, float]) -> str:
    return f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def learned(test: dict) -> Check:
    """From a variant's `test` metrics: top1 (mean over seeds) against majority_top1."""
    top1, floor = float(test["top1"]), float(test["majority_top1"])
    works = top1 >= floor + LEARNED_MARGIN
    sign = ">=" if works else "<"
    return Check("learning", works, f"test top-1 {top1:.3f} {sign} majority share {floor:.3f} + {LEARNED_MARGIN}")


def simclr(pretrain: dict) -> Check:
    """From the pretrain stage's metrics: final kNN val accuracy (over `knn_val_images` predictions, every seed's)
    against the random init's + SIMCLR_MIN_GAIN."""
    final, start = float(pretrain["knn_val_acc"]), float(pretrain["knn_val_acc_random_init"])
    n = int(pretrain["knn_val_images"])
    interval, bar = wilson(final * n, n), start + SIMCLR_MIN_GAIN
    figure = f"kNN val {final:.3f} {_ci(interval)} (n={n}) vs random init {start:.3f} + {SIMCLR_MIN_GAIN}"
    return judged("simclr", against(interval, bar), figure)


def generator(
    method: str,
    recognised: float,
    images: int,
    judge_acc: float,
    judge_images: int,
    zero_classes: list[str] | None = None,
) -> Check:
    """Generated images of `method`: the share of `images` the judge recognises against GENERATED_MIN_SHARE of
    its accuracy on `judge_images` real val images; the judge itself must reach JUDGE_MIN_ACC (else not shown:
    nothing can be measured). `zero_classes`: classes none of whose images were recognised (named in the figure)."""
    judge = wilson(judge_acc * judge_images, judge_images)
    zeros = f"; never recognised: {', '.join(zero_classes)}" if zero_classes else ""
    if judge[0] < JUDGE_MIN_ACC:
        figure = f"judge reaches {judge_acc:.3f} {_ci(judge)} on real val images, not >= {JUDGE_MIN_ACC}"
        return judged(method, NOT_SHOWN, figure + ", so the images cannot be judged")
    interval, bar = wilson(recognised * images, images), GENERATED_MIN_SHARE * judge_acc
    figure = (
        f"recognisability {recognised:.3f} {_ci(interval)} (n={images}) vs {GENERATED_MIN_SHARE} x judge's real "
        f"val {judge_acc:.3f}{zeros}"
    )
    return judged(method, against(interval, bar), figure)


def detector(mean_iou: float, iou_std: float, images: int, full_frame_iou: float) -> Check:
    """Detector crops: the top box's mean test IoU with the ground truth (normal interval from the per-image std)
    against DETECTOR_MIN_IOU and the full frame's mean IoU."""
    half = Z95 * iou_std / math.sqrt(images)
    interval, bar = (mean_iou - half, mean_iou + half), max(DETECTOR_MIN_IOU, full_frame_iou)
    figure = f"test mean IoU {mean_iou:.3f} {_ci(interval)} (n={images}) vs {DETECTOR_MIN_IOU} and full frame "
    figure += f"{full_frame_iou:.3f}"
    return judged("detector", against(interval, bar), figure)


def read_checks(path: Path) -> dict[str, dict]:
    """The checks recorded at `path` (a checks.json, or a dataset's meta.json with a `checks` entry); {} if none."""
    if not path.is_file():
        return {}
    record = json.loads(path.read_text())
    return record.get("checks", {}) if path.name == "meta.json" else record


def failing(checks: dict[str, dict]) -> list[str]:
    """'<technique>: <figure>' for each check that did not pass (does not work, or not shown)."""
    return [f"{name}: {c['figure']}" for name, c in checks.items() if not c["works"]]
