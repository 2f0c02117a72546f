"""index.html from hand-made evaluate outputs: one row per variant, every section's images inline, no links out."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from finegrain import paths
from finegrain.params import Params
from finegrain.report.build import build_report

VARIANTS = {"cnn": {"data": "prepared", "init": "none"}, "cnn_fgsm": {"data": "prepared", "init": "none"}}


def _png(path, seed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, np.random.default_rng(seed).random((24, 24, 3)))


@pytest.fixture
def fake_project(tmp_path, monkeypatch):
    """metrics/variants/, data/perf/variants/, data/models/ and data/eval/ as the pipeline would leave them."""
    monkeypatch.chdir(tmp_path)
    classes = ["a", "b", "c"]
    for i, name in enumerate(VARIANTS):
        robust = {
            "images": 60,
            "fgsm": {"eps_0": 0.8, "eps_2_255": 0.5 + 0.1 * i},
            "pgd": {"eps_0": 0.8, "eps_2_255": 0.3},
        }
        quality = {
            "test": {"top1": 0.8 - 0.1 * i, "macro_f1": 0.7, "top3": 1.0, "majority_top1": 1 / 3},
            "val": {"top1": 0.75},
            "params": 1000,
            "seeds": 1,
            "robust": robust,
            "explain": {"cam_drop": 0.3, "random_drop": 0.1, "images": 32},
        }
        perf = {"epoch_time_s": 1.0 + i, "train_time_s": 10.0 + i, "infer_img_per_s": 100.0}
        for path, record in ((paths.variant_metrics(name), quality), (paths.variant_perf(name), perf)):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text(json.dumps(record))
        seed_dir = tmp_path / "data" / "models" / name / "seed0"
        seed_dir.mkdir(parents=True)
        pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_acc": [0.5, 0.7]}).to_csv(
            seed_dir / "history.csv", index=False
        )
        ev = tmp_path / "data" / "eval" / name
        (ev / "robust").mkdir(parents=True)
        pd.DataFrame(np.eye(3, dtype=int) * 5, index=classes, columns=classes).to_csv(ev / "confusion_matrix.csv")
        for attack in ("fgsm", "pgd"):
            pd.DataFrame({"eps": [0, 2 / 255], "eps_255": [0, 2], "accuracy": [0.8, 0.4]}).to_csv(
                ev / "robust" / f"{attack}.csv", index=False
            )
        _png(ev / "explain" / "cam.png", i)
        _png(ev / "explain" / "feature_maps.png", 10 + i)
    return tmp_path


def test_index_html_is_self_contained_with_one_row_per_variant(fake_project):
    table = build_report(
        Params(variants=VARIANTS),
        paths.REPORTS,
        paths.MODELS,
        paths.EVAL,
        paths.VARIANT_METRICS,
        paths.PERF / "variants",
    )
    page = (fake_project / "data" / "reports" / "index.html").read_text()
    body = page.split('<table class="sortable" id="variants">')[1].split("</table>")[0]
    assert body.count("<tr>") == 1 + len(VARIANTS)  # header + one row per variant
    assert "FGSM 2/255" in body and "CAM drop" in body
    assert re.findall(r"<td>(cnn\w*)</td>", body) == list(VARIANTS)
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    expected = ["accuracy vs training time", "training loss", "confusion matrices", "robust accuracy vs ε"]
    for what in [*expected, "cnn: heatmaps", "cnn_fgsm: feature maps"]:
        assert any(alt.startswith(what) or what in alt for alt in images), what
    assert len(images) == 2 + 1 + 1 + 2 * len(VARIANTS)
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing loaded from elsewhere
    assert table.loc[1, "fgsm_eps_2_255"] == pytest.approx(0.6)


def test_one_run_claims_show_the_reports_values_on_every_table(fake_project):
    """One seed per variant: no interval, yet the report's a, b and difference are beside ours on the first screen,
    in the claims table, summary.md and claims.md."""
    claim = {"text": "cnn beats cnn_fgsm", "a": "cnn", "b": "cnn_fgsm", "expect": "greater",
             "report": {"a": 0.879, "b": 0.836}, "report_source": "table 1"}  # fmt: skip
    params = Params(variants=VARIANTS, report={"claims": [claim]})
    build_report(params, paths.REPORTS, paths.MODELS, paths.EVAL, paths.VARIANT_METRICS, paths.PERF / "variants")
    reports = fake_project / paths.REPORTS
    page = (reports / "index.html").read_text()
    first_screen = page.split('id="verdicts"')[1].split("</table>")[0]
    assert "0.879 vs 0.836: +0.043" in first_screen and "0.8 vs 0.7: no CI (fewer than 2 runs)" in first_screen
    for doc in ("summary.md", "claims.md"):
        text = (reports / doc).read_text()
        assert "| inconclusive | " in text and "0.879 vs 0.836: +0.043" in text
    assert "size undecided: not judged (fewer than 2 runs on a side)" in (reports / "claims.md").read_text()
    record = json.loads((reports / "claims.json").read_text())["claims"][0]
    assert record["report_difference"] == pytest.approx(0.043) and record["holm_family"] == 1
