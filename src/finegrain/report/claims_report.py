"""The report stage's claims table: each declared claim judged on its variants' quality metrics and timings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from finegrain.checks import failing
from finegrain.params import Params
from finegrain.report.claims import INCONCLUSIVE, SIZE_UNDECIDED, Verdict, adjust, judge, p_text, size_margin
from finegrain.report.config import ClaimCfg, family_size
from finegrain.report.contrasts import Interval, Stat

CLAIMS_METHOD = (
    "Welch 95% CI of the difference over seeds (ratio claims: of the log ratio of means); equal claims by TOST "
    "(90% CI inside the margin); direction raw and Holm-adjusted over the preset's claims on all its datasets (claims "
    "without a test count with p 1); size by equivalence to the report's effect ± a margin: our 90% CI inside -> same "
    "size, our 95% CI outside -> ours larger / smaller, else undecided; verdict: the Holm-adjusted direction, "
    "'reproduced in sign and size' only when the size is the same; 'to decide': the smallest effect these runs detect "
    "(80% power, two-sided), the seeds per side a decision on the observed effect needs, and the seeds per side that "
    "detect the report's effect at the claim's Holm level."
)

EXACT_METRICS = ("params",)
"""Deterministic metrics: no seed variance, so the CI is the point difference."""

NOTHING_LEARNED_MARGIN = 0.02
"""A variant whose mean test top-1 is within this of its test split's majority-class share learned (almost) nothing."""


def _metrics(name: str, metrics_dir: Path, perf_dir: Path) -> tuple[dict, dict]:
    quality = json.loads((metrics_dir / f"{name}.json").read_text())
    perf_path = perf_dir / f"{name}.json"
    return quality, json.loads(perf_path.read_text()) if perf_path.is_file() else {}


def variant_stat(quality: dict, perf: dict, metric: str) -> Stat:
    """Mean, std over seeds and run count of `metric` (e.g. test.top1, perf.epoch_time_s) from a variant's metrics."""
    n = int(quality.get("seeds", 1))
    if metric in EXACT_METRICS:
        return Stat(float(quality[metric]), 0.0, max(n, 2))
    group, _, key = metric.partition(".")
    source = perf if group == "perf" else quality[group]
    return Stat(float(source[key]), float(source.get(f"{key}_std", 0.0)), n)


def nothing_learned(qualities: list[dict]) -> float | None:
    """The highest majority-class share when every variant's test top-1 is within NOTHING_LEARNED_MARGIN of its
    own (a comparison between such models says nothing about the technique); None otherwise or when unknown."""
    floors = [q["test"].get("majority_top1") for q in qualities]
    if None in floors:
        return None
    tops = [q["test"]["top1"] for q in qualities]
    return max(floors) if all(t <= f + NOTHING_LEARNED_MARGIN for t, f in zip(tops, floors, strict=True)) else None


def rests_on(claim: ClaimCfg, checks: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """The technique checks a claim rests on: those its variants do not all share (e.g. `simclr` for SimCLR init vs
    scratch; `detector` for crops vs full frames), with each variant's own result (a failure wins)."""
    names = claim.variants()
    shared = set.intersection(*(set(checks[n]) for n in names))
    out: dict[str, dict] = {}
    for n in names:
        for technique, check in checks[n].items():
            if technique not in shared and (technique not in out or not check["works"]):
                out[technique] = check
    return out


def unreadable_reason(
    metric: str, qualities: list[dict], perfs: list[dict], techniques: dict[str, dict] | None = None
) -> str:
    """Why a claim's interval says nothing here ('' when it does): a technique it rests on did not work, timings
    from different machines, or no variant learned anything (quality metrics only; `params` is exact)."""
    broken = failing(techniques or {})
    if broken:
        return "rests on what did not work here: " + "; ".join(broken)
    if metric.startswith("perf."):
        machines = {p.get("machine") for p in perfs}
        if len(machines) > 1 or None in machines:
            return f"timings not from one machine ({sorted(map(str, machines))})"
    elif metric not in EXACT_METRICS and (floor := nothing_learned(qualities)) is not None:
        return (
            f"every variant is at the majority-class baseline (test top-1 <= {floor:.3f} + "
            f"{NOTHING_LEARNED_MARGIN}): nothing learned to compare"
        )
    return ""


def scale_of(params: Params, names: list[str], perfs: dict[str, dict]) -> str:
    """'cpu, 5 epochs, 64 px, 3 seeds, [600 train images, ]flower_photos' (values joined by / where variants differ)."""

    def values(get) -> str:
        return "/".join(dict.fromkeys(str(get(n)) for n in names))

    cfgs = {n: params.variant(n) for n in names}
    parts = [
        values(lambda n: perfs[n].get("device", "?")),
        values(lambda n: cfgs[n].epochs) + " epochs",
        values(lambda n: cfgs[n].image_size_px) + " px",
        values(lambda n: len(cfgs[n].seeds)) + " seeds",
        params.data.dataset,
    ]
    if any(cfgs[n].train_images for n in names):
        parts.insert(4, values(lambda n: cfgs[n].train_images or "all") + " train images")
    return ", ".join(parts)


def train_record(name: str, models_dir: Path) -> dict:
    """What train@<name> recorded in data/models/<name>/summary.json ({} when there is none)."""
    summary = models_dir / name / "summary.json"
    return json.loads(summary.read_text()) if summary.is_file() else {}


def variant_checks(name: str, models_dir: Path) -> dict[str, dict]:
    """The technique checks train@<name> recorded (finegrain.checks), {} for a model trained before they existed."""
    return train_record(name, models_dir).get("checks", {})


def judge_claims(
    params: Params,
    metrics_dir: Path,
    perf_dir: Path,
    models_dir: Path,
) -> list[Verdict]:
    """Every claim of params.report testable at its scale; see `unreadable_reason` for the forced inconclusives."""
    scale = params.report.scale
    verdicts = []
    for claim in params.report.claims:
        if not claim.applies(scale, params.data.dataset):
            continue
        names = list(dict.fromkeys(claim.variants()))
        loaded = {n: _metrics(n, metrics_dir, perf_dir) for n in names}
        perfs = {n: loaded[n][1] for n in names}
        stats_b = {n: variant_stat(*loaded[n], claim.metric_b) for n in claim.b} if claim.metric_b else None
        on_metric = claim.a if claim.metric_b else names  # side b is read on metric_b only (it may lack metric)
        verdict = judge(claim, {n: variant_stat(*loaded[n], claim.metric) for n in on_metric}, stats_b)
        techniques = rests_on(claim, {n: variant_checks(n, models_dir) for n in names})
        reason = unreadable_reason(claim.metric, [loaded[n][0] for n in names], list(perfs.values()), techniques)
        if reason:
            verdict = unreadable(verdict, reason)
        verdict.scale = scale_of(params, names, perfs) + replication_note(params, names)
        verdicts.append(verdict)
    return adjust(verdicts, family=family_size(params.report, params.data.dataset))


def replication_note(params: Params, names: list[str]) -> str:
    """What a claim's interval does not cover: upstream stochastic artefacts trained once (the detector of crops, the
    generator of added images), while SimCLR backbones are one per seed (variant seed k loads backbone k)."""
    once = []
    inputs = {params.variant(n).data for n in names}
    cropped = {"cropped", "cropped_square"} | ({"augmented"} if params.generate.input != "prepared" else set())
    if params.crop.mode == "mmdet" and params.crop.detector.train and inputs & cropped:
        once.append("one detector")
    if "augmented" in inputs:
        once.append(f"one {params.generate.augment.method.upper()} run")
    if not once:
        return ""
    return f"; trained once, so outside the interval: {', '.join(once)}"


def unreadable(verdict: Verdict, reason: str) -> Verdict:
    """A verdict forced inconclusive for `reason`: no p-value (it counts in Holm's family with p 1), size not judged
    (the report's values stay), no seed count (more seeds would not help)."""
    verdict.verdict = verdict.adjusted = INCONCLUSIVE
    verdict.reason, verdict.p, verdict.sensitivity, verdict.size_p = reason, None, {}, None
    if verdict.claim.report:
        verdict.size, verdict.size_text = SIZE_UNDECIDED, f"{SIZE_UNDECIDED}: not judged ({reason})"
    return verdict


def expected_text(claim: ClaimCfg) -> str:
    """'greater', 'equal (±0.01)', 'greater (ratio a/b)', 'equal (ratio within ×0.905–×1.11)', with a target
    'equal (ratio a/b ×0.49, within ×0.819–×1.22 of it)'."""
    ratio = claim.compare == "ratio"
    if claim.expect == "equal":
        within = f"×{math.exp(-claim.margin):.3g}–×{math.exp(claim.margin):.3g}" if ratio else f"±{claim.margin:g}"
        if claim.target is not None:
            at = f"ratio a/b ×{claim.target:.3g}" if ratio else f"a - b {claim.target:+.3g}"
            return f"equal ({at}, within {within} of it)"
        return f"equal ({'ratio within ' if ratio else ''}{within})"
    return claim.expect + (" (ratio a/b)" if ratio else "")


def claims_frame(verdicts: list[Verdict]) -> pd.DataFrame:
    """One row per claim: the combined verdict first, the report's values beside ours, then the details."""
    return pd.DataFrame(
        [
            {
                "verdict": v.combined,
                "claim": v.claim.text + (f" ({v.claim.note})" if v.claim.note else ""),
                "report: a vs b: effect": v.report_text or "none printed",
                "ours: a vs b: effect [95% CI]": v.ours_text,
                "size vs report": v.size_text,
                "metric": v.claim.metric_text + (f" ({v.claim.split_text})" if v.claim.split_text else ""),
                "expected": expected_text(v.claim),
                "groups": "; ".join(f"{k}: {s}" for k, s in v.sides.items()),
                "p": p_text(v.p),
                "direction (raw)": v.verdict_text,
                "Holm-adjusted": v.adjusted_text,
                "to decide": v.sensitivity_text,
                "scale": v.scale,
            }
            for v in verdicts
        ]
    )


def claims_markdown(frame: pd.DataFrame, header: str = "") -> str:
    cols = list(frame.columns)
    lines = [header, CLAIMS_METHOD, ""] if header else [CLAIMS_METHOD, ""]
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]).replace("|", "/") for c in cols) + " |" for r in frame.to_dict("records")]
    return "\n".join(lines) + "\n"


def _triple(ci: Interval) -> list[float]:
    return [ci.estimate, ci.lo, ci.hi]


def claims_json(verdicts: list[Verdict]) -> list[dict]:
    out = []
    for v in verdicts:
        out.append(
            {
                "claim": v.claim.text,
                "metric": v.claim.metric,
                "metric_b": v.claim.metric_b,
                "id": v.claim.id,
                "split": v.claim.split,
                "unmeasured": v.claim.unmeasured,
                "target": v.claim.target,
                "expect": v.claim.expect,
                "verdict": v.verdict,
                "reason": v.reason,
                "scale": v.scale,
                "groups": v.sides,
                "intervals": {k: _triple(ci) for k, ci in v.intervals.items()},
                "intervals_90": {k: _triple(ci.at(0.90)) for k, ci in v.intervals.items() if v.claim.expect == "equal"},
                "compare": v.claim.compare,
                "note": v.claim.note,
                "p": v.p,
                "p_holm": v.p_holm,
                "verdict_holm": v.adjusted,
                "holm_family": v.family,
                "holm_level": v.level,
                "verdict_combined": v.combined,
                "report": v.claim.report,
                "report_source": v.claim.report_source,
                "report_difference": v.report_difference,
                "size": v.size,
                "size_text": v.size_text,
                "size_p": v.size_p,
                "size_margin": size_margin(v.claim, v.report_difference) if v.report_difference is not None else None,
                "to_decide": v.sensitivity,
                "report_power": v.report_power,
            }
        )
    return out
