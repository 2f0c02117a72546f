"""The real DVC pipeline at tiny scale: repro, per-variant metrics, report, exp run -S, metrics diff, gate."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml
from conftest import dvc, run

from finegrain import paths

pytestmark = pytest.mark.slow


def variants(project):
    return list(yaml.safe_load((project / "params.yaml").read_text())["variants"])


def test_repro_writes_metrics_per_variant(tiny_project):
    for name in variants(tiny_project):
        quality = json.loads((tiny_project / paths.variant_metrics(name)).read_text())
        assert 0.0 <= quality["test"]["top1"] <= 1.0 and quality["test"]["top5"] >= quality["test"]["top1"]
        assert quality["params"] > 0
        perf = json.loads((tiny_project / paths.variant_perf(name)).read_text())
        assert perf["epoch_time_s"] > 0 and perf["infer_img_per_s"] > 0
        confusion = pd.read_csv(tiny_project / "data" / "eval" / name / "confusion_matrix.csv", index_col=0)
        assert confusion.to_numpy().sum() == 60  # 6 classes x 10 test images
        assert quality["test"]["majority_top1"] == pytest.approx(confusion.sum(axis=1).max() / 60, abs=1e-6)  # 1/6


def test_prepare_metrics_and_shards(tiny_project):
    report = json.loads((tiny_project / "metrics" / "prepare.json").read_text())
    assert report["counts"] == {"train": 144, "val": 48, "test": 60} and report["skipped"] == 0
    assert len(list((tiny_project / "data" / "prepared").glob("*.npy"))) == 3  # one shard per split, not loose files


def test_report_table_has_one_row_per_variant(tiny_project):
    table = pd.read_csv(tiny_project / "data" / "reports" / "table.csv")
    assert table["variant"].tolist() == variants(tiny_project)
    md = (tiny_project / "data" / "reports" / "table.md").read_text()
    assert md.count("\n") == len(table) + 2
    for png in ("accuracy_vs_time.png", "training_curves.png"):
        assert (tiny_project / "data" / "reports" / png).stat().st_size > 5000
    assert (table["epoch_time_s"] > 0).all() and (table["train_time_s"] > 0).all()  # timings live in the report


def test_report_first_screen_says_what_each_variant_shows_and_whether_it_worked(tiny_project):
    summary = (tiny_project / "data" / "reports" / "summary.md").read_text()
    table = summary.split("## Claims")[0]  # the variants table; the claims follow under their own heading
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[0].strip("| ") for r in rows] == variants(tiny_project)
    ssl = next(r for r in rows if r.startswith("| ssl_aug_adv "))
    assert "SimCLR init" in ssl and "DDPM images" in ssl and "FGSM training" in ssl
    for technique in ("simclr", "detector", "ddpm"):  # the checks train copied from its data and init
        assert technique in ssl
    page = (tiny_project / "data" / "reports" / "index.html").read_text()
    assert page.index("What this run shows") < page.index('id="variants"')
    assert 'alt="ssl_aug_adv: generated training images"' in page  # the only variant trained on generated images
    assert "cnn: generated training images" not in page


def test_dvclive_logged_every_epoch(tiny_project):
    tsv = tiny_project / "data" / "live" / "cnn" / "plots" / "metrics" / "val" / "acc.tsv"
    assert len(tsv.read_text().strip().splitlines()) == 1 + 2  # header + 2 epochs


def test_repro_is_a_noop_when_nothing_changed(tiny_project):
    out = dvc(tiny_project, "repro").stdout
    assert set(re.findall(r"Running stage '([^']+)'", out)) == {"fingerprint"}  # always runs; its output is unchanged


def test_status_clean_after_commit(tiny_project):
    status = dvc(tiny_project, "status").stdout
    assert status.split() == ["fingerprint:", "always", "changed"], status  # the data.root watcher, nothing else


def test_exp_run_reruns_only_the_touched_variant(tiny_project, tmp_path):
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(tiny_project), str(clone)], tmp_path)
    # share the session's DVC cache so the clone starts from the committed pipeline state
    dvc(clone, "config", "--local", "cache.dir", str(tiny_project / ".dvc" / "cache"))
    dvc(clone, "checkout")
    out = dvc(clone, "exp", "run", "-S", "variants.cnn.lr=0.01").stdout
    ran = set(re.findall(r"Running stage '([^']+)'", out))
    assert ran == {"fingerprint", "train@cnn", "evaluate@cnn", "report"}, out
    diff = dvc(clone, "metrics", "diff", "--md", "--all").stdout
    assert "metrics/variants/cnn.json" in diff and "test.top1" in diff
    assert not re.search(r"_s\b|per_s|machine|device|perf", diff), f"timings in dvc metrics diff:\n{diff}"
    shown = dvc(clone, "exp", "show", "--md", "--no-pager").stdout
    assert "variants.cnn.lr" in shown or "0.01" in shown


def test_new_augment_ratio_reruns_add_generated_not_the_generators(tiny_project, tmp_path):
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(tiny_project), str(clone)], tmp_path)
    dvc(clone, "config", "--local", "cache.dir", str(tiny_project / ".dvc" / "cache"))
    dvc(clone, "checkout")
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["generate"]["augment"]["ratio"] = 0.5
    (clone / "params.yaml").write_text(yaml.safe_dump(params))
    out = dvc(clone, "repro", "--dry").stdout  # stages changed now; their dependents follow once add_generated reruns
    ran = set(re.findall(r"Running stage '([^']+)'", out))
    assert ran == {"fingerprint", "add_generated"}, out
    status = dvc(clone, "status", "generate", "add_generated").stdout
    assert "generate:" not in status.splitlines() and "add_generated:" in status.splitlines(), status
    assert "generate.augment" in status, status
