"""Every claim can fail: the presets' replaced claims (issue 27), each judged on runs built so that it must be
contradicted and on runs where it must be reproduced; and like with like (the split of the report's numbers)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from finegrain.errors import ConfigError
from finegrain.params import Params, load_params
from finegrain.presets.apply import compose, load_preset
from finegrain.report.claims import CONTRADICTED, REPRODUCED, judge
from finegrain.report.claims_report import claims_frame, claims_json, expected_text, judge_claims
from finegrain.report.config import ClaimCfg
from finegrain.report.contrasts import Stat
from finegrain.train.loop import _create_loss

PRESETS_DIR = Path(__file__).resolve().parents[2] / "presets"


def preset_claim(name: str, scale: str, claim_id: str) -> ClaimCfg:
    """The claim `claim_id` of preset `name` at `scale`, as the report stage reads it."""
    claims = [ClaimCfg.model_validate(c) for c in compose(name, scale, presets_dir=PRESETS_DIR)["report"]["claims"]]
    (claim,) = [c for c in claims if c.id == claim_id]
    return claim


def preset_params(name: str, scale: str, tmp_path: Path) -> Params:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(compose(name, scale, presets_dir=PRESETS_DIR)))
    return load_params(path)


def s(mean: float, std: float = 0.01, n: int = 3) -> Stat:
    return Stat(mean, std, n)


# B: a triplet embedding alone -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("scale", "claim_id"), [("full", "triplet_alone"), ("cpu", "triplet_alone_cpu")])
def test_the_triplet_claim_judges_the_embeddings_knn_not_the_untrained_head(scale, claim_id):
    claim = preset_claim("B", scale, claim_id)
    assert (claim.metric, claim.metric_b) == ("test.knn_top1", "test.top1") and claim.unmeasured
    tcel = {"vit_tcel": s(0.85)}
    weak = judge(claim, {"vit_triplet": s(0.30)}, tcel)
    strong = judge(claim, {"vit_triplet": s(0.90)}, tcel)  # an embedding that classifies by kNN: the claim fails
    assert (weak.verdict, strong.verdict) == (REPRODUCED, CONTRADICTED)


def _write(root: Path, name: str, groups: dict[str, dict[str, list[float]]], seeds: int = 3) -> None:
    """metrics/variants/<name>.json as evaluate writes it (means and stds over the seeds' values)."""
    quality: dict = {"seeds": seeds}
    for group, keys in groups.items():
        quality[group] = {}
        for key, values in keys.items():
            quality[group] |= {key: float(np.mean(values)), f"{key}_std": float(np.std(values, ddof=1))}
    quality["test"].setdefault("majority_top1", 0.01)
    (root / "metrics" / "variants").mkdir(parents=True, exist_ok=True)
    (root / "metrics" / "variants" / f"{name}.json").write_text(json.dumps(quality))


def _judge_files(root: Path, claims: list[ClaimCfg], names: list[str]):
    variants = {v: {"data": "prepared", "init": "none"} for v in names}
    params = Params(
        train={"seeds": [0, 1, 2]},
        variants=variants,
        report={"scale": "full", "claims": [c.model_dump() for c in claims]},
    )
    return judge_claims(params, root / "metrics" / "variants", root / "perf", root / "models")


def test_the_triplet_claim_reads_knn_top1_from_the_metrics_even_when_the_head_is_at_chance(tmp_path):
    """The triplet model's classifier is at chance (it gets no gradient); its embedding classifies well by kNN: the
    claim is contradicted, so it cannot follow from the untrained head."""
    claim = preset_claim("B", "full", "triplet_alone")
    _write(tmp_path, "vit_triplet", {"test": {"top1": [0.01, 0.01, 0.012], "knn_top1": [0.90, 0.91, 0.89]}})
    _write(tmp_path, "vit_tcel", {"test": {"top1": [0.85, 0.86, 0.84]}})
    (verdict,) = _judge_files(tmp_path, [claim], ["vit_triplet", "vit_tcel"])
    assert verdict.verdict == CONTRADICTED
    assert verdict.intervals["a-b"].estimate == pytest.approx(0.90 - 0.85)


# D: deeper layers blurrier, against the untrained control ---------------------------------------------------------


def test_deeper_blurrier_is_judged_against_the_untrained_architecture():
    claim = preset_claim("D", "cpu", "deeper_blurrier")
    assert (claim.metric, claim.metric_b) == (
        "explain.feature_sharpness_depth",
        "explain.feature_sharpness_depth_untrained",
    )
    # both have log(deepest / shallowest) < 0: the deep maps are blurrier in either, as upsampling makes them
    blurrier = judge(claim, {"rx101_pretrained": s(-2.0, 0.1)}, {"rx101_pretrained": s(-1.0, 0.1)})
    artefact_only = judge(claim, {"rx101_pretrained": s(-1.0, 0.1)}, {"rx101_pretrained": s(-2.0, 0.1)})
    assert (blurrier.verdict, artefact_only.verdict) == (REPRODUCED, CONTRADICTED)


# A: time proportional to the training-set size; the gains 200 -> 500 vs 500 -> 1020 ------------------------------


@pytest.mark.parametrize("scale", ["full", "cpu"])
def test_time_is_judged_proportional_not_merely_growing(scale):
    claim = preset_claim("A", scale, "fewshot_time")
    assert claim.target == pytest.approx(500 / 1020, abs=1e-3) and claim.compare == "ratio"
    proportional = judge(claim, {"fewshot_500": s(4.9, 0.05), "fewshot_1020": s(10.0, 0.1)})
    overhead = judge(claim, {"fewshot_500": s(8.5, 0.05), "fewshot_1020": s(10.0, 0.1)})  # grows, not in proportion
    assert (proportional.verdict, overhead.verdict) == (REPRODUCED, CONTRADICTED)
    assert proportional.report_difference == pytest.approx(math.log(0.5 / (1.0 * claim.target)))
    assert "× 0.4902" in " ".join(proportional.sides) and "ratio a/b ×0.49" in expected_text(claim)
    assert proportional.report_text.endswith("(a vs b ×0.49)") and proportional.ours_text.endswith("(a vs b ×0.49)")


@pytest.mark.parametrize("scale", ["full", "cpu"])
def test_diminishing_returns_compares_the_reports_two_gains(scale):
    claim = preset_claim("A", scale, "fewshot_gains")
    assert claim.series == ["fewshot_200", "fewshot_500", "fewshot_1020"] and claim.concavity == "gain"

    def at(*means: float) -> dict[str, Stat]:
        return dict(zip(claim.series, (s(m, 0.003) for m in means), strict=True))

    assert judge(claim, at(0.50, 0.80, 0.85)).verdict == REPRODUCED
    # gains 0.08 then 0.11: the second jump is larger, though per image (300 vs 520 images) the slope still falls
    assert judge(claim, at(0.50, 0.58, 0.69)).verdict == CONTRADICTED
    slopes = claim.model_copy(update={"concavity": "slope"})
    assert judge(slopes, at(0.50, 0.58, 0.69)).verdict == REPRODUCED


def test_accuracy_trade_off_500_vs_1020_can_fail():
    claim = preset_claim("A", "cpu", "fewshot_500_acc")
    assert judge(claim, {"fewshot_500": s(0.80), "fewshot_1020": s(0.84)}).verdict == REPRODUCED
    assert judge(claim, {"fewshot_500": s(0.86), "fewshot_1020": s(0.82)}).verdict == CONTRADICTED


# B: TCEL against the report's own contrast, and the fair one --------------------------------------------------------


def test_tcel_carries_the_reports_numbers_only_against_the_plain_fine_tuned_arm():
    report_arm = preset_claim("B", "full", "tcel_vs_full")
    fair = preset_claim("B", "full", "tcel_vs_ce_head")
    assert (report_arm.b, report_arm.report) == (["vit_full"], {"a": 0.876, "b": 0.646})
    assert fair.b == ["vit_ce_head"] and not fair.report and "Not the report's contrast" in fair.note
    assert judge(report_arm, {"vit_tcel": s(0.87), "vit_full": s(0.65)}).verdict == REPRODUCED
    assert judge(report_arm, {"vit_tcel": s(0.80), "vit_full": s(0.88)}).verdict == CONTRADICTED
    judged = judge(report_arm, {"vit_tcel": s(0.87), "vit_full": s(0.65)})
    assert judged.report_difference == pytest.approx(0.876 - 0.646)
    assert judge(fair, {"vit_tcel": s(0.87), "vit_ce_head": s(0.86, 0.001)}).report_difference is None


def test_b_cpu_label_smoothing_reaches_both_tcel_and_its_ce_arm(tmp_path):
    params = preset_params("B", "cpu", tmp_path)
    tcel, ce = params.variant("vit_tcel"), params.variant("vit_ce_head")
    assert tcel.label_smoothing == ce.label_smoothing == 0.1
    assert _create_loss(tcel).label_smoothing == _create_loss(ce).label_smoothing == 0.1


# like with like ---------------------------------------------------------------------------------------------------


def test_a_claim_on_another_split_than_the_reports_fails_in_one_line():
    with pytest.raises(ValueError, match=r"the report's numbers are on val; compare like with like \(val.top1, not "):
        ClaimCfg(text="t", a="a", b="b", expect="greater", split="val")
    assert ClaimCfg(text="t", a="a", b="b", expect="greater", split="val", unmeasured="its own metric").split_text == (
        "the report did not measure this: its own metric"
    )
    assert ClaimCfg(text="t", a="a", b="b", expect="less", metric="val.top1", split="val").split_text == "val split"


def test_a_preset_claim_on_an_accuracy_names_its_split(tmp_path):
    preset = yaml.safe_load((PRESETS_DIR / "C.yaml").read_text())
    del preset["params"]["report"]["claims"][0]["split"]
    (tmp_path / "C.yaml").write_text(yaml.safe_dump(preset))
    with pytest.raises(ConfigError, match=r"^preset C: claim 'batch 64 .*': val.top1 is on a split; name the split"):
        load_preset("C", tmp_path)


@pytest.mark.parametrize(
    ("name", "ids"),
    [
        ("C", ["bs64_acc", "r34_acc"]),
        ("E", ["kernel", "blocks", "dropout", "lambda"]),
        ("B", ["eca_val", "r18_frozen_vs_parallel_val"]),
    ],
)
def test_where_the_report_used_validation_accuracy_the_claim_does(name, ids):
    for claim_id in ids:
        claim = preset_claim(name, "full", claim_id)
        assert (claim.metric, claim.split) == ("val.top1", "val"), claim_id


def test_the_split_is_on_the_page_and_in_claims_json():
    claim = preset_claim("C", "full", "bs64_acc")
    verdict = judge(claim, {"r18_bs64": s(0.90), "r18_bs32": s(0.93)})
    assert claims_frame([verdict]).iloc[0]["metric"] == "val.top1 (val split)"
    assert {k: claims_json([verdict])[0][k] for k in ("id", "split")} == {"id": "bs64_acc", "split": "val"}


# the new options fail in one clear line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"expect": "less", "target": 0.5}, "target: only 'equal' claims have one"),
        ({"expect": "equal", "margin": 0.1, "compare": "ratio", "target": -1.0}, "target: a ratio claim's target"),
        ({"expect": "greater", "concavity": "gain"}, "concavity: only 'rising_diminishing' claims have one"),
    ],
)
def test_bad_new_claim_options(extra, message):
    with pytest.raises(ValueError, match=message):
        ClaimCfg(text="t", a="a", b="b", **extra)


def test_claim_ids_are_unique_in_a_report():
    from finegrain.report.config import ReportCfg

    claim = {"text": "t", "a": "a", "b": "b", "expect": "greater", "id": "x"}
    with pytest.raises(ValueError, match="claims: id 'x' names more than one claim"):
        ReportCfg(claims=[claim, claim])


# every preset claim can go either way ----------------------------------------------------------------------------

ALL_CLAIMS = [
    pytest.param(name, scale, claim, id=f"{name}-{scale}-{claim.id or claim.text}")
    for name in sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
    for scale in load_preset(name, PRESETS_DIR)["scales"]
    for claim in map(ClaimCfg.model_validate, compose(name, scale, presets_dir=PRESETS_DIR)["report"]["claims"])
]


def _runs_for(claim: ClaimCfg, holds: bool) -> tuple[dict[str, Stat], dict[str, Stat] | None]:
    """Stats of the claim's variants built so that the claim holds (or is reversed) by a wide margin."""
    if claim.series:
        top = claim.x[-1]
        if claim.expect == "rising_diminishing":
            shape = (lambda x: math.log1p(x) / math.log1p(top)) if holds else (lambda x: (x / top) ** 2)
        else:
            shape = (lambda x: x / top) if holds else (lambda x: 1 - x / top)
        return {v: s(0.3 + 0.5 * shape(x), 0.002) for v, x in zip(claim.series, claim.x, strict=True)}, None
    ratio, b_mean = claim.compare == "ratio", 1.0
    if claim.expect == "equal":
        target = claim.target if claim.target is not None else (1.0 if ratio else 0.0)
        at = b_mean * target if ratio else b_mean + target
        off = 0.0 if holds else 3 * claim.margin
        a_mean = at * math.exp(off) if ratio else at + off
    else:
        sign = (1 if claim.expect == "greater" else -1) * (1 if holds else -1)
        a_mean = b_mean * math.exp(0.3 * sign) if ratio else b_mean + 0.3 * sign
    a_stats = {v: s(a_mean, 0.002) for v in claim.a}
    b_stats = {v: s(b_mean, 0.002) for v in claim.b}
    if claim.metric_b:
        return a_stats, b_stats
    return {**b_stats, **a_stats}, None


@pytest.mark.parametrize(("name", "scale", "claim"), ALL_CLAIMS)
def test_every_preset_claim_can_be_reproduced_and_contradicted(name, scale, claim):
    assert claim.id, f"{claim.text}: every preset claim has an id (the results inventory cites it)"
    if claim.a and set(claim.a) == set(claim.b) and not claim.metric_b:
        pytest.fail(f"{claim.text}: the same variants on both sides of one metric cannot differ")
    assert judge(claim, *_runs_for(claim, True)).verdict == REPRODUCED
    assert judge(claim, *_runs_for(claim, False)).verdict == CONTRADICTED


# item 5: the new claims read what they claim -------------------------------------------------------------------


def test_dropout_biggest_is_half_the_difference_of_the_two_effects():
    claim = preset_claim("E", "full", "dropout_biggest")
    cells = {
        f"en_a{a}_l1e-{lam}_d0p{d}": (a, lam, d) for a in ("0p2", "0p5", "0p8") for lam in (1, 2, 3) for d in (1, 3, 5)
    }

    def grid(dropout_effect: float, lambda_effect: float) -> dict[str, Stat]:
        """Accuracy = 0.6 + dropout 0.1 bonus + lambda 0.001 bonus (the report's directions)."""
        return {
            v: s(0.6 + dropout_effect * (d == 1) + lambda_effect * (lam == 3), 0.005)
            for v, (_, lam, d) in cells.items()
        }

    big_dropout = judge(claim, grid(0.10, 0.02))
    assert big_dropout.verdict == REPRODUCED
    assert big_dropout.intervals["a-b"].estimate == pytest.approx((0.10 - 0.02) / 2)
    assert judge(claim, grid(0.02, 0.10)).verdict == CONTRADICTED


def test_the_vgg19_unfreeze_jump_reads_both_sides_of_the_phase_boundary(tmp_path):
    claim = preset_claim("E", "full", "vgg19_unfreeze_jump")
    curves = {"phase1_last_val_acc": [0.50, 0.51, 0.49], "phase2_first_val_acc": [0.65, 0.66, 0.65]}
    _write(tmp_path, "vgg19_two_phase", {"test": {"top1": [0.7, 0.71, 0.72]}, "curve": curves})
    (jump,) = _judge_files(tmp_path, [claim], ["vgg19_two_phase"])
    assert jump.verdict == REPRODUCED
    curves["phase2_first_val_acc"] = [0.53, 0.54, 0.52]  # 3 points, not 15
    _write(tmp_path, "vgg19_two_phase", {"test": {"top1": [0.7, 0.71, 0.72]}, "curve": curves})
    (small,) = _judge_files(tmp_path, [claim], ["vgg19_two_phase"])
    assert small.verdict == CONTRADICTED


def test_the_vgg19_unfreeze_jump_carries_the_reports_15_points():
    """The report prints the jump (+15 points) but no accuracies: a and b stand for it, so the page shows it and the
    size is judged around it (within the claim's own ±5 points)."""
    claim = preset_claim("E", "cpu", "vgg19_unfreeze_jump")
    jump = judge(claim, {"vgg19_two_phase": s(0.66, 0.005)}, {"vgg19_two_phase": s(0.50, 0.005)})
    assert jump.report_text == "0.15 vs 0: +0 (a vs b +0.15)" and jump.report_difference == pytest.approx(0.0)
    assert (jump.verdict, jump.size) == (REPRODUCED, "same size")
    far = judge(claim, {"vgg19_two_phase": s(0.80, 0.005)}, {"vgg19_two_phase": s(0.50, 0.005)})
    assert (far.verdict, far.size) == (CONTRADICTED, "ours larger")


@pytest.mark.parametrize("scale", ["full", "cpu"])
def test_deformable_after_every_layer_carries_the_reports_10_to_30_percent(scale):
    claim = preset_claim("B", scale, "deform_layers")
    assert claim.report == {"a": 0.20, "b": 0.565} and claim.size_margin == pytest.approx(0.1)
    within = judge(claim, {"r18_deform_layers": s(0.25, 0.005), "r18_deform_after": s(0.56, 0.005)})
    assert (within.verdict, within.size) == (REPRODUCED, "same size")  # -0.31: inside -0.365 ± 0.1 (10-30%)
    mild = judge(claim, {"r18_deform_layers": s(0.50, 0.005), "r18_deform_after": s(0.56, 0.005)})
    assert (mild.verdict, mild.size) == (REPRODUCED, "ours smaller")


def test_the_eca_parameter_claims_note_gives_our_counts():
    """A parameter count is fixed by the architecture: the note says ours, and they are what the builder gives."""
    from finegrain.models.factory import count_parameters, create_model

    se, eca = (count_parameters(create_model("efficientnet_b0", 102, mods=m)) for m in (None, {"eca": True}))
    for scale, claim_id in (("full", "eca_params"), ("cpu", "eca_params_cpu")):
        note = " ".join(preset_claim("B", scale, claim_id).note.split())
        assert f"ECA {eca / 1e6:.2f}M vs SE {se / 1e6:.2f}M" in note and "not an experiment" in note


@pytest.mark.slow
def test_the_vit_parameter_claims_note_gives_our_counts():
    """D's 'ViT has more parameters' is false for ViT-B/16 vs ResNeXt101-32x8d: the note says so with the counts."""
    from finegrain.models.factory import count_parameters, create_model

    note = " ".join(preset_claim("D", "full", "vit_params").note.split())
    for classes, where in ((200, "CUB's 200"), (120, "Dogs' 120")):
        vit, cnn = (count_parameters(create_model(m, classes)) for m in ("vit_b_16", "resnext101_32x8d"))
        assert vit < cnn and f"{vit / 1e6:.2f}M vs" in note and f"{cnn / 1e6:.2f}M with {where}" in note


@pytest.mark.parametrize(
    ("name", "claim_id"),
    [
        ("B", "triplet_alone"),
        ("B", "deform_layers"),
        ("D", "deeper_blurrier"),
        ("D", "cnn_converges_faster"),
        ("E", "augment_gap"),
    ],
)
def test_a_claim_on_a_metric_the_report_did_not_measure_says_so(name, claim_id):
    claim = preset_claim(name, "full", claim_id)
    assert claim.split_text.startswith("the report did not measure this: ") and claim.unmeasured
    verdict = judge(claim, *_runs_for(claim, True))
    assert claim.split_text in claims_frame([verdict]).iloc[0]["metric"]
    assert claims_json([verdict])[0]["unmeasured"] == claim.unmeasured
