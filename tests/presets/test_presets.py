"""Every preset at every scale composes into valid params and a DVC pipeline; one variant per preset really trains."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run, stage_module

from finegrain import paths
from finegrain.data.prepare import prepare_dataset
from finegrain.data.registry import get_dataset
from finegrain.errors import ConfigError
from finegrain.init_weights import export_init_weights
from finegrain.params import Params, load_params
from finegrain.presets.apply import apply_preset, compose, load_preset
from finegrain.presets.stages import OPTIONAL, with_stage_set, write_stage_set
from finegrain.report.build import build_report
from finegrain.report.config import ClaimCfg

train_variant, evaluate_variant = stage_module("train").train, stage_module("evaluate").evaluate

PRESETS_DIR = REPO / "presets"
PRESETS = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
CASES = [(name, scale) for name in PRESETS for scale in load_preset(name, PRESETS_DIR)["scales"]]
UPSTREAM = {"cropped": "crop", "cropped_square": "crop", "augmented": "generate"}


def test_every_report_has_a_preset_with_full_and_cpu_scales():
    assert {"A", "B", "C", "D", "E"} <= set(PRESETS)
    assert all({s for n, s in CASES if n == name} == {"full", "cpu"} for name in PRESETS)


@pytest.mark.parametrize(("name", "scale"), CASES)
def test_preset_composes_into_valid_params(tmp_path, name, scale):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(compose(name, scale, presets_dir=PRESETS_DIR)))
    params = load_params(path)
    assert (params.report.preset, params.report.scale) == (name, scale)
    assert params.report.claims, "every preset judges claims"
    assert not any("." in v for v in params.variants), "dvc exp run -S variants.<name>.lr needs dot-free names"
    for claim in params.report.claims:
        assert not claim.scales or scale in claim.scales
    if scale == "cpu":  # no downloads of model weights at CPU scale
        assert all(params.variant(v).init != "hub" for v in params.variants)


def test_a_scale_deletes_replaces_and_adds():
    full, cpu = (compose("A", s, presets_dir=PRESETS_DIR) for s in ("full", "cpu"))
    assert "head_vgg16" in full["variants"] and "head_vgg16" not in cpu["variants"]
    assert full["variants"]["r34_se"]["init"] == "hub" and cpu["variants"]["r34_se"]["init"] == "none"
    assert cpu["variants"]["r34_se"]["mods"] == full["variants"]["r34_se"]["mods"]  # untouched keys kept
    assert {c["text"] for c in cpu["report"]["claims"]} < {c["text"] for c in full["report"]["claims"]}
    b_cpu = compose("B", "cpu", presets_dir=PRESETS_DIR)["report"]["claims"]
    assert any("standing in for ViT" in c["text"] for c in b_cpu)  # a scale's own claims are added


def test_set_overrides_and_bad_scale(tmp_path):
    sets = ["data.source=local", "data.root=/somewhere", "train.epochs=2"]
    params = compose("C", "cpu", sets, presets_dir=PRESETS_DIR)
    assert (params["data"]["root"], params["train"]["epochs"]) == ("/somewhere", 2)
    trimmed = compose("E", "cpu", ["variants.grid_b5_k5=null"], presets_dir=PRESETS_DIR)
    assert "grid_b5_k5" not in trimmed["variants"]
    texts = [c["text"] for c in trimmed["report"]["claims"]]
    assert len(texts) == len(compose("E", "cpu", presets_dir=PRESETS_DIR)["report"]["claims"]) - 2
    assert not any("kernels" in t or "blocks" in t for t in texts)  # claims on a removed variant are left out
    with pytest.raises(ConfigError, match=r"preset C: scale: expected one of full, cpu \(got 'gpu'\)"):
        compose("C", "gpu", presets_dir=PRESETS_DIR)
    with pytest.raises(ConfigError, match="preset: no .*Z.yaml"):
        compose("Z", "cpu", presets_dir=PRESETS_DIR)


@pytest.fixture(scope="module")
def pipeline_copy(tmp_path_factory) -> Path:
    """A git+DVC project with the repo's pipeline, code and presets (nothing reproduced)."""
    project = tmp_path_factory.mktemp("presets") / "project"
    project.mkdir()
    for name in ("dvc.yaml", "stages", "src", "presets"):
        src = REPO / name
        copy = shutil.copytree if src.is_dir() else shutil.copy
        copy(src, project / name)
    run(["git", "init", "-q"], project)
    run([sys.executable, "-m", "dvc", "init", "-q"], project)
    return project


@pytest.mark.parametrize(("name", "scale"), CASES)
def test_dvc_repro_dry_runs_each_preset(pipeline_copy, monkeypatch, name, scale):
    from dvc.repo import Repo

    monkeypatch.chdir(pipeline_copy)
    params = apply_preset(name, scale, out=pipeline_copy / "params.yaml", presets_dir=PRESETS_DIR)
    off = write_stage_set(pipeline_copy / "dvc.yaml", params)  # what `finegrain presets apply` writes
    with Repo(str(pipeline_copy)) as repo:  # in-process: the CLI's `dvc repro --dry -f report`
        stages = [stage.addressing for stage in repo.reproduce("report", dry=True, force=True)]
    assert {f"train@{v}" for v in params.variants} | {f"evaluate@{v}" for v in params.variants} <= set(stages)
    assert stages[-1] == "report"
    needed = {UPSTREAM.get(params.variant(v).data) for v in params.variants} - {None}
    needed |= {"pretrain" for v in params.variants if params.variant(v).init == "simclr"}
    assert {s for s in stages if s in ("crop", "generate", "pretrain")} == needed
    assert set(off) == set(OPTIONAL) - needed - ({"add_generated"} if "generate" in needed else set())


def test_stage_set_comments_out_stages_and_back():
    """A preset's stage set turns optional stages off and on by `#off: ` lines; all on again is the original."""
    text = (REPO / "dvc.yaml").read_text()
    off = with_stage_set(text, set(OPTIONAL))
    stages = yaml.safe_load(off)["stages"]
    assert not set(OPTIONAL) & set(stages) and {"download", "prepare", "weights", "train", "report"} <= set(stages)
    assert with_stage_set(off, set()) == text
    assert with_stage_set(with_stage_set(off, {"pretrain"}), {"crop"}) == with_stage_set(text, {"crop"})


# one variant of each preset's cpu scale, shrunk to seconds, trained and evaluated for real
ONE_VARIANT = {"A": "r34_se", "B": "r18_deform_parallel", "C": "r18_bs64", "D": "rx101_fgsm", "E": "grid_b1_k5"}
TINY = {"epochs": 1, "image_size_px": 32, "batch_size": 8, "seeds": [0], "train_images": None}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("preset_runs")
    data_cfg = Params().data.model_copy(
        update={
            "synthetic": Params().data.synthetic.model_copy(
                update={"train_per_class": 6, "val_per_class": 2, "test_per_class": 3, "size_px": 32}
            )
        }
    )
    prepare_dataset(get_dataset(data_cfg, paths.RAW), root / paths.PREPARED, 32, 0.0, workers=1)
    export_init_weights(root / paths.WEIGHTS)
    return root


def _tiny(name: str, variants: list[str], seeds: list[int]) -> Params:
    composed = compose(name, "cpu", presets_dir=PRESETS_DIR)
    train = {k: v for k, v in composed["train"].items() if k != "train_images"}
    variant_cfgs = {v: {**composed["variants"][v], **TINY, "seeds": seeds} for v in variants}
    evaluate = {"robust": {"images": 8, "pgd_steps": 1}, "explain": {"images": 0, "faithfulness_images": 0}}
    claims = [c for c in composed["report"]["claims"] if set(ClaimCfg(**c).variants()) <= set(variants)]
    report = {**composed["report"], "claims": claims}
    return Params(train=train, variants=variant_cfgs, evaluate=evaluate, report=report)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ONE_VARIANT))
def test_one_variant_per_preset_trains_and_evaluates(workspace, monkeypatch, name):
    monkeypatch.chdir(workspace)
    variant = ONE_VARIANT[name]
    params = _tiny(name, [variant], [0])
    train_variant(params, variant)
    evaluate_variant(params, variant)
    quality = json.loads((workspace / paths.variant_metrics(variant)).read_text())
    assert 0.0 <= quality["test"]["top1"] <= 1.0
    assert json.loads((workspace / paths.variant_perf(variant)).read_text())["machine"]


@pytest.mark.slow
def test_preset_c_report_judges_its_claim(workspace, monkeypatch):
    """Both C variants with two seeds: the report writes the claims with group stats, a CI, a verdict and the scale."""
    monkeypatch.chdir(workspace)
    params = _tiny("C", ["r18_bs32", "r18_bs64"], [0, 1])
    for variant in params.variants:
        train_variant(params, variant)
        evaluate_variant(params, variant)
    build_report(
        params,
        workspace / "reports",
        paths.MODELS,
        paths.EVAL,
        paths.VARIANT_METRICS,
        paths.PERF / "variants",
    )
    claim, smoother, faster = json.loads((workspace / "reports" / "claims.json").read_text())["claims"]
    assert claim["claim"] == "batch 64 gives slightly lower accuracy than batch 32"
    assert smoother["metric"] == "curve.val_loss_roughness" and smoother["expect"] == "less"
    assert smoother["verdict"] == "inconclusive"  # 1 epoch: no second difference, roughness 0 on both sides
    assert faster["metric"] == "curve.epochs_to_95" and faster["report"] == {"a": 3, "b": 5}
    assert faster["verdict"] == "inconclusive"  # 1 epoch: every run is at 95% of its best at epoch 1
    assert claim["verdict"] in ("reproduced", "contradicted", "inconclusive")
    lo, hi = claim["intervals"]["a-b"][1:]
    assert lo <= claim["intervals"]["a-b"][0] <= hi
    assert claim["scale"] == "cpu, 1 epochs, 32 px, 2 seeds, synthetic"
    md = (workspace / "reports" / "claims.md").read_text()
    assert "Claims of C, scale cpu" in md and claim["verdict"] in md
    assert "<h2>Claims</h2>" in (workspace / "reports" / "index.html").read_text()


def test_apply_writes_params_yaml_only_when_valid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(PRESETS_DIR, tmp_path / "presets")
    apply_preset("C", "cpu")
    text = (tmp_path / "params.yaml").read_text()
    assert text.startswith("# Generated by `finegrain presets apply C --scale cpu`")
    expected = r"preset C --scale cpu: params.yaml: variants.r18_bs32.epochs: Input should be greater than 0"
    with pytest.raises(ConfigError, match=expected):
        apply_preset("C", "cpu", ["train.epochs=0"])
    assert (tmp_path / "params.yaml").read_text() == text and not list(tmp_path.glob(".params*"))


@pytest.mark.parametrize(("name", "scale"), CASES)
def test_every_claim_carries_the_reports_numbers_or_a_note(name, scale):
    claims = compose(name, scale, presets_dir=PRESETS_DIR)["report"]["claims"]
    for claim in map(ClaimCfg.model_validate, claims):
        assert claim.report or claim.note, claim.text
        assert not claim.report or claim.report_source, f"{claim.text}: report values without report_source"
        if claim.metric.startswith("perf.") and claim.report:
            assert claim.compare == "ratio", f"{claim.text}: their GPU seconds vs our CPU seconds need compare: ratio"
    assert load_preset(name, PRESETS_DIR)["params"]["report"]["tables"], "every preset prints its report's tables"


@pytest.mark.parametrize(("name", "scale"), CASES)
def test_a_loss_claim_compares_arms_that_differ_only_in_the_loss(tmp_path, name, scale):
    """A triplet-loss arm against a CE arm: either only the loss differs (same head, batches, label smoothing), or
    the claim's note says what else does; a preset with such claims has one where only the loss differs."""
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(compose(name, scale, presets_dir=PRESETS_DIR)))
    params = load_params(path)
    pairs = [(c, va, vb) for c in params.report.claims for va in c.a for vb in c.b]
    loss_claims, fair = 0, 0
    for claim, a, b in ((c, params.variant(va), params.variant(vb)) for c, va, vb in pairs):
        if a.loss == b.loss or not {a.loss, b.loss} & {"tcel", "triplet"}:
            continue
        loss_claims += 1
        only_loss = a.batch_sampler == b.batch_sampler and a.model_dump(exclude={"loss", "sampler"}) == b.model_dump(
            exclude={"loss", "sampler"}
        )
        fair += only_loss and "ce" in {a.loss, b.loss}
        assert only_loss or "differ" in claim.note, f"{claim.text}: arms differ beyond the loss; the note says so"
    assert not loss_claims or fair, "a TCEL preset compares TCEL with a CE arm that differs only in the loss"


def test_a_claim_without_report_numbers_or_note_fails_validation(tmp_path):
    preset = yaml.safe_load((PRESETS_DIR / "C.yaml").read_text())
    del preset["params"]["report"]["claims"][0]["report"]
    (tmp_path / "C.yaml").write_text(yaml.safe_dump(preset))
    expected = r"^preset C: claim 'batch 64 gives slightly lower accuracy than batch 32': no report values and no note"
    with pytest.raises(ConfigError, match=expected):
        load_preset("C", tmp_path)
    preset["params"]["report"]["tables"][0]["rows"][0]["variants"] = "r18_bs16"
    preset["params"]["report"]["claims"][0]["note"] = "not the report's own"
    (tmp_path / "C.yaml").write_text(yaml.safe_dump(preset))
    with pytest.raises(ConfigError, match=r"table 'ResNet training data .*': no variant 'r18_bs16'"):
        load_preset("C", tmp_path)


def test_stage_readers_follow_the_inputs_of_the_stages_they_need():
    from finegrain.pipeline import needed_stages, stage_readers

    chain = Params(
        variants={"s": {"data": "prepared", "init": "simclr"}},
        pretrain={"input": "augmented"},
        generate={"input": "cropped_square"},
    )
    assert stage_readers(chain) == {
        "pretrain": "variants.s.init",
        "generate": "pretrain.input",
        "add_generated": "pretrain.input",
        "crop": "generate.input",
    }
    assert needed_stages(Params(variants={"v": {"data": "prepared", "init": "none"}})) == set()
