"""Did each technique of a run work? Fixed rules, each with the figure that shows the answer.

A technique that did not work (a model that learned nothing, SimCLR below its own random init, generated images a
classifier cannot recognise, a detector no better than the full frame) is reported as not working, and the claims
that rest on it say so instead of comparing it as if it had worked. The rules are set here once, for every dataset;
they are not tuned to a run.

Where the checks travel: the stage that makes a data input or initial weights records its checks with them (a
dataset's meta.json `checks`, data/weights/<init>/checks.json); train@<variant> copies those of its data and init
into data/models/<variant>/summary.json, where the report reads them.
"""

from __future__ import annotations

import json
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


@dataclass(frozen=True)
class Check:
    """One technique's verdict: `works`, and the `figure` (one line with its numbers) that shows why."""

    technique: str
    works: bool
    figure: str

    def to_dict(self) -> dict:
        return asdict(self)


def learned(test: dict) -> Check:
    """From a variant's `test` metrics: top1 (mean over seeds) against majority_top1."""
    top1, floor = float(test["top1"]), float(test["majority_top1"])
    works = top1 >= floor + LEARNED_MARGIN
    sign = ">=" if works else "<"
    return Check("learning", works, f"test top-1 {top1:.3f} {sign} majority share {floor:.3f} + {LEARNED_MARGIN}")


def simclr(pretrain: dict) -> Check:
    """From the pretrain stage's metrics: final kNN val accuracy against the random-init one."""
    final, start = float(pretrain["knn_val_acc"]), float(pretrain["knn_val_acc_random_init"])
    works = final >= start + SIMCLR_MIN_GAIN
    sign = ">=" if works else "<"
    return Check("simclr", works, f"kNN val {final:.3f} {sign} random init {start:.3f} + {SIMCLR_MIN_GAIN}")


def generator(method: str, recognised: float, judge_acc: float) -> Check:
    """Generated images of `method`: the judge's accuracy on them against its accuracy on real val images."""
    if judge_acc < JUDGE_MIN_ACC:
        return Check(
            method, False, f"judge reaches only {judge_acc:.3f} < {JUDGE_MIN_ACC} on real val images: not measurable"
        )
    works = recognised >= GENERATED_MIN_SHARE * judge_acc
    sign = ">=" if works else "<"
    return Check(
        method,
        works,
        f"recognisability {recognised:.3f} {sign} {GENERATED_MIN_SHARE} x judge's real val {judge_acc:.3f}",
    )


def detector(mean_iou: float, full_frame_iou: float) -> Check:
    """Detector crops: the top box's mean test IoU with the ground truth against the full frame's."""
    works = mean_iou >= DETECTOR_MIN_IOU and mean_iou > full_frame_iou
    sign = ">=" if works else "<"
    return Check(
        "detector", works, f"test mean IoU {mean_iou:.3f} {sign} {DETECTOR_MIN_IOU} (full frame {full_frame_iou:.3f})"
    )


def read_checks(path: Path) -> dict[str, dict]:
    """The checks recorded at `path` (a checks.json, or a dataset's meta.json with a `checks` entry); {} if none."""
    if not path.is_file():
        return {}
    record = json.loads(path.read_text())
    return record.get("checks", {}) if path.name == "meta.json" else record


def failing(checks: dict[str, dict]) -> list[str]:
    """'<technique>: <figure>' for each check that did not pass."""
    return [f"{name}: {c['figure']}" for name, c in checks.items() if not c["works"]]
