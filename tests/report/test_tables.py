"""The reports' own tables with ours beside: synthetic metrics whose pooled means and stds are known."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from pydantic import ValidationError

from finegrain.params import Params
from finegrain.report.config import TableCfg
from finegrain.report.html import render
from finegrain.report.tables import cell_text, metrics_loader, report_tables, tables_html, tables_markdown

TABLE = {
    "title": "Comparison of accuracy",
    "source": "table 2",
    "note": "text says 'a slight decrease'",
    "columns": {"accuracy": "test.top1", "time per epoch": "perf.epoch_time_s"},
    "rows": [
        {"label": "base", "variants": "base", "values": {"accuracy": 0.8829, "time per epoch": 9.28}},
        {"label": "pooled", "variants": ["k2", "k5"], "values": {"accuracy": 0.70}},
        {"label": "dogs base", "variants": "base", "dataset": "stanford_dogs", "values": {"accuracy": 0.9239}},
        {"label": "gpu only", "variants": "vit", "values": {"accuracy": 0.8413}},
    ],
}


def _write(root, name: str, top1: float, std: float, seeds: int, epoch_s: float) -> None:
    (root / "m").mkdir(exist_ok=True)
    (root / "p").mkdir(exist_ok=True)
    quality = {"test": {"top1": top1, "top1_std": std}, "val": {"top1": top1}, "params": 1000, "seeds": seeds}
    (root / "m" / f"{name}.json").write_text(json.dumps(quality))
    (root / "p" / f"{name}.json").write_text(json.dumps({"epoch_time_s": epoch_s, "device": "cpu", "machine": "x"}))


@pytest.fixture
def tables(tmp_path):
    variants = {
        n: {"data": "prepared", "init": "none", "model": "small_cnn", "seeds": [0, 1]} for n in ("base", "k2", "k5")
    }
    params = Params(
        data={"dataset": "cub200", "source": "official"},
        crop={"mode": "none"},
        variants=variants,
        report={"scale": "cpu", "tables": [TABLE]},
    )
    _write(tmp_path, "base", 0.80, 0.01, 2, 3.0)
    _write(tmp_path, "k2", 0.60, 0.0, 2, 1.0)
    _write(tmp_path, "k5", 0.70, 0.0, 2, 1.0)
    return report_tables(params, metrics_loader(tmp_path / "m", tmp_path / "p"))


def test_each_printed_number_gets_ours_beside(tables):
    (table,) = tables
    base, pooled, dogs, gpu_only = table["rows"]
    assert base["cells"]["accuracy"]["report"] == 0.8829
    assert base["cells"]["accuracy"]["ours"] == {"mean": 0.80, "std": 0.01, "n": 2}
    assert base["cells"]["time per epoch"]["ours"]["mean"] == 3.0
    assert base["scale"].startswith("small_cnn; cpu, ") and "cub200" in base["scale"]
    ours = pooled["cells"]["accuracy"]["ours"]  # two variants' seeds pooled: mean 0.65, sample std over 4 runs
    assert (ours["mean"], ours["n"]) == (pytest.approx(0.65), 4)
    assert ours["std"] == pytest.approx(math.sqrt(2 * 2 * 0.05**2 / 3))
    assert pooled["cells"]["time per epoch"]["report"] is None
    assert dogs["cells"]["accuracy"]["ours"] is None and "stanford_dogs" in dogs["why"]
    assert gpu_only["cells"]["accuracy"]["ours"] is None and gpu_only["why"].startswith("not run at this scale")


def test_markdown_and_html_show_both(tables):
    assert cell_text(tables[0]["rows"][0]["cells"]["accuracy"]) == ("88.29%", "80.00% ± 1.00% (n=2)")
    md = tables_markdown(tables)
    assert "### Comparison of accuracy (report: table 2). text says 'a slight decrease'" in md
    assert "| base | 88.29% | 80.00% ± 1.00% (n=2) | 9.28 | 3 (n=2) | small_cnn; cpu" in md
    assert "| gpu only | 84.13% | – | – | – | not run at this scale (no variant vit) |" in md
    page = tables_html(tables)
    assert page.count("<tr><td>") == 4 and "<th>report</th><th>ours</th>" in page
    html = render("t", pd.DataFrame([{"variant": "base"}]), [], report_tables=page)
    assert "<h2>The report's tables, ours beside</h2>" in html and page in html


def test_a_value_for_no_column_is_rejected():
    bad = {**TABLE, "rows": [{"label": "x", "variants": "base", "values": {"top5": 0.9}}]}
    with pytest.raises(ValidationError, match="has values for no column"):
        TableCfg(**bad)
