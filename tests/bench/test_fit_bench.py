"""bench/fit.py --quick on CPU: one table, one row per (layout, precision) the device supports, consistent columns.

Timings are not checked (a shared machine); only the table's shape and that its derived columns follow its rates.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fit.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_fit", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_rows(text: str) -> tuple[list[str], list[list[str]]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return cells[0], cells[2:]  # header, rows (after the alignment line)


def test_quick_cpu_prints_one_row_per_layout_and_precision(bench, capsys):
    bench.main(["--quick", "--device", "cpu"])
    out = capsys.readouterr().out
    assert "bare step vs whole fit on cpu" in out and "(--quick)" in out and "load " in out
    header, rows = table_rows(out)
    assert header == bench.COLUMNS == [
        "model", "px", "batch", "format", "precision", "bare img/s", "fit img/s", "fit/bare", "data-bound",
    ]  # fmt: skip
    cpu = bench.precisions(torch.device("cpu"))
    assert cpu[0] == "fp32" and "fp16" not in cpu
    assert [(r[3], r[4]) for r in rows] == [(f, p) for f in ("contiguous", "channels_last") for p in cpu]
    for model, px, batch, _, _, bare, fit, ratio, bound in rows:
        assert (model, px, batch) == ("small_cnn", "32", "16")
        bare, fit, ratio = float(bare), float(fit), float(ratio)
        assert bare > 0 and fit > 0
        assert ratio == pytest.approx(fit / bare, abs=0.01 + 0.001 * ratio)  # one pair: the ratio of the rates
        assert bound == ("yes" if ratio < bench.DATA_BOUND else "no")


def test_fp16_only_on_cuda(bench):
    assert "fp16" not in bench.precisions(torch.device("cpu"))
    if torch.cuda.is_available():
        assert bench.precisions(torch.device("cuda"))[-1] == "fp16"


def test_too_few_images_for_a_batch_is_one_clear_error(bench, capsys):
    with pytest.raises(SystemExit) as err:
        bench.parse_args(["--train", "8", "--batch", "32"])
    assert err.value.code == 2
    assert "--train 8: needs at least one full batch of --batch 32" in capsys.readouterr().err
