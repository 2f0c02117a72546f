"""The reports' own tables (params.yaml `report.tables`) with ours beside each printed number.

Each cell holds the report's value and ours on the same metric: mean ± std over seeds, n (runs; pooled over the row's
variants), and the scale the row ran at (device, model, epochs, px, seeds, dataset). A row whose variants did not run
here (left out at this scale, or about another dataset) says so instead.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path

from finegrain import paths
from finegrain.params import Params
from finegrain.report.claims import Stat, pool
from finegrain.report.claims_report import scale_of, variant_stat
from finegrain.report.config import TableCfg, TableRowCfg

Loader = Callable[[str], tuple[dict, dict] | None]
"""variant -> (quality metrics, timings), None when it has none."""


def metrics_loader(metrics_dir: Path = paths.VARIANT_METRICS, perf_dir: Path = paths.PERF / "variants") -> Loader:
    """Reads metrics/variants/<v>.json and data/perf/variants/<v>.json (timings {} when missing)."""

    def load(name: str) -> tuple[dict, dict] | None:
        quality_path, perf_path = paths.variant_metrics(name, metrics_dir), paths.variant_perf(name, perf_dir)
        if not quality_path.is_file():
            return None
        perf = json.loads(perf_path.read_text()) if perf_path.is_file() else {}
        return json.loads(quality_path.read_text()), perf

    return load


def _ours(metric: str, loaded: list[tuple[dict, dict]]) -> Stat | None:
    try:
        return pool([variant_stat(q, p, metric) for q, p in loaded])
    except KeyError:  # e.g. a timing that was not recorded
        return None


def _row(params: Params, table: TableCfg, row: TableRowCfg, load: Loader) -> dict:
    out = {"label": row.label, "variants": row.variants, "dataset": row.dataset, "scale": "", "why": "", "cells": {}}
    missing = [v for v in row.variants if v not in params.variants]
    loaded = {} if missing else {v: load(v) for v in row.variants}
    if not row.variants:
        out["why"] = "no variant reproduces this row"
    elif row.dataset and row.dataset != params.data.dataset:
        out["why"] = f"about {row.dataset}; this run is on {params.data.dataset} (-S data.dataset={row.dataset})"
    elif missing:
        out["why"] = f"not run at this scale (no variant {missing[0]})"
    elif None in loaded.values():
        out["why"] = "no metrics yet (run evaluate)"
    else:
        models = "/".join(dict.fromkeys(params.variant(v).model for v in row.variants))
        out["scale"] = f"{models}; {scale_of(params, row.variants, {v: p for v, (_, p) in loaded.items()})}"
    for column, metric in table.columns.items():
        ours = _ours(metric, list(loaded.values())) if out["scale"] else None
        out["cells"][column] = {
            "metric": metric,
            "report": row.values.get(column),
            "ours": None if ours is None else {"mean": ours.mean, "std": ours.std, "n": ours.n},
        }
    return out


def report_tables(params: Params, load: Loader | None = None) -> list[dict]:
    """params.report.tables with our values: [{title, source, note, columns, rows: [{label, ..., cells}]}]."""
    load = load or metrics_loader()
    return [
        {
            "title": t.title,
            "source": t.source,
            "note": t.note,
            "columns": dict(t.columns),
            "rows": [_row(params, t, r, load) for r in t.rows],
        }
        for t in params.report.tables
    ]


def _value(metric: str, value: float) -> str:
    """A value in the report's usual units: accuracies in %, seconds, parameter counts."""
    if metric == "params":
        return f"{value:,.0f}"
    if metric.startswith(("test.", "val.")):
        return f"{100 * value:.2f}%"
    return f"{value:.3g}"


def cell_text(cell: dict) -> tuple[str, str]:
    """(the report's value, ours) as text; '–' where there is none."""
    metric, report, ours = cell["metric"], cell["report"], cell["ours"]
    theirs = "–" if report is None else _value(metric, report)
    if ours is None:
        return theirs, "–"
    spread = f" ± {_value(metric, ours['std'])}" if ours["n"] > 1 and ours["std"] else ""
    return theirs, f"{_value(metric, ours['mean'])}{spread} (n={ours['n']})"


def _header(table: dict) -> str:
    note = f" {table['note']}" if table["note"] else ""
    return f"{table['title']} (report: {table['source']}).{note}"


def tables_markdown(tables: list[dict]) -> str:
    """Each table as Markdown: per column the report's value, then ours; then the scale (or why not run)."""
    out = []
    for table in tables:
        cols = list(table["columns"])
        head = ["row", *[f"{c}: {w}" for c in cols for w in ("report", "ours")], "ours ran at"]
        lines = [f"### {_header(table)}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in table["rows"]:
            cells = [t for c in cols for t in cell_text(row["cells"][c])]
            where = row["scale"] or row["why"]
            lines.append("| " + " | ".join(s.replace("|", "/") for s in [row["label"], *cells, where]) + " |")
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def tables_html(tables: list[dict]) -> str:
    """The tables for index.html: the report's number and ours side by side under each of its columns."""
    parts = []
    for table in tables:
        cols = list(table["columns"])
        top = "".join(f'<th colspan="2">{html.escape(c)}</th>' for c in cols)
        sub = "".join("<th>report</th><th>ours</th>" for _ in cols)
        body = []
        for row in table["rows"]:
            cells = "".join(f"<td>{html.escape(t)}</td>" for c in cols for t in cell_text(row["cells"][c]))
            where = html.escape(row["scale"] or row["why"])
            body.append(f"<tr><td>{html.escape(row['label'])}</td>{cells}<td>{where}</td></tr>")
        parts.append(
            f"<h3>{html.escape(_header(table))}</h3>"
            f'<div class="table-wrap"><table class="report-table"><thead><tr><th rowspan="2">row</th>{top}'
            f'<th rowspan="2">ours ran at</th></tr><tr>{sub}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
        )
    return "\n".join(parts)
