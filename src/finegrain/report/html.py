"""data/reports/index.html: the whole report as one self-contained page (images inline as base64, no network).

Sections: a sortable variants table, accuracy vs training time, training curves, confusion matrices, robustness
curves, heatmap and feature-map grids.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import pandas as pd

Section = tuple[str, str, list[tuple[Path, str]]] | None
"""(heading, note, [(png, caption)]); None or an empty image list leaves the section out."""

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1200px;
color:#1f2328;padding:0 16px}
h1{font-size:1.6em;margin-bottom:4px} h2{border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:32px}
.note{color:#57606a;font-size:.9em}
table.sortable{border-collapse:collapse;font-size:.8em;width:100%}
table.sortable th,table.sortable td{border:1px solid #d0d7de;padding:3px 6px;text-align:right;white-space:nowrap}
table.sortable td:first-child,table.sortable th:first-child{text-align:left;font-weight:600}
table.sortable th{background:#f6f8fa;cursor:pointer;user-select:none}
table.sortable th[data-order=asc]::after{content:" ▲"} table.sortable th[data-order=desc]::after{content:" ▼"}
table.sortable tbody tr:nth-child(even){background:#fafbfc}
table.report-table{border-collapse:collapse;font-size:.8em}
table.report-table th,table.report-table td{border:1px solid #d0d7de;padding:3px 6px;text-align:right}
table.report-table td:first-child,table.report-table td:last-child{text-align:left}
table.report-table th{background:#f6f8fa}
figure{margin:12px 0} figcaption{font-size:.9em;color:#57606a;margin-bottom:4px}
img{max-width:100%;height:auto;border:1px solid #eaeef2}
.table-wrap{overflow-x:auto}
table#verdicts td:first-child{white-space:normal;min-width:11em}
table#verdicts td:last-child,table#verdicts th:last-child{white-space:normal;min-width:20em}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:12px}
"""

SORT_JS = """
document.querySelectorAll("table.sortable").forEach((table) => {
  table.querySelectorAll("thead th").forEach((th, col) => {
    th.addEventListener("click", () => {
      const asc = th.dataset.order !== "asc";
      table.querySelectorAll("thead th").forEach((h) => delete h.dataset.order);
      th.dataset.order = asc ? "asc" : "desc";
      const key = (row) => {
        const cell = row.cells[col];
        const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent;
        const num = parseFloat(raw);
        return Number.isNaN(num) ? raw : num;
      };
      const body = table.tBodies[0];
      const rows = Array.from(body.rows).sort((a, b) => {
        const x = key(a), y = key(b);
        const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return asc ? order : -order;
      });
      rows.forEach((row) => body.appendChild(row));
    });
  });
});
"""

PERCENT = {"val_acc", "test_acc", "macro_f1"}
ROBUST_PREFIXES = ("fgsm_eps_", "pgd_eps_")
COLUMNS = {
    "variant": "variant",
    "model": "model",
    "data": "data",
    "init": "init",
    "mode": "mode",
    "val_acc": "val %",
    "test_acc": "test %",
    "macro_f1": "F1 %",
    "epoch_time_s": "s / epoch",
    "train_time_s": "train s",
    "params": "params",
    "seeds": "seeds",
    "cam_drop": "CAM drop",
    "random_drop": "random drop",
}


def _robust_header(column: str) -> str:
    attack, _, key = column.partition("_eps_")
    eps = key.replace("_255", "/255")
    return f"{attack.upper()} {eps}"


def _number(value) -> float | None:
    if value is None or isinstance(value, str):
        return None
    return None if isinstance(value, float) and math.isnan(value) else value


def _cell(record: dict, column: str) -> str:
    value = record[column]
    if column in PERCENT or column.startswith(ROBUST_PREFIXES):
        if _number(value) is None:
            return '<td data-value="">–</td>'
        std = _number(record.get(f"{column}_std"))
        text = f"{100 * value:.1f}" + (f" ± {100 * std:.1f}" if std else "")
        return f'<td data-value="{value}">{text}</td>'
    if isinstance(value, float):
        return '<td data-value="">–</td>' if math.isnan(value) else f'<td data-value="{value}">{value:.3g}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td data-value="{value}">{value:,}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def table_html(table: pd.DataFrame) -> str:
    """The variants table with a header row and one body row per variant; click a header to sort."""
    robust = [c for c in table.columns if c.startswith(ROBUST_PREFIXES) and not c.endswith(("_std", "_eps_0"))]
    columns = [c for c in COLUMNS if c in table.columns and c not in ("cam_drop", "random_drop")] + robust
    columns += [c for c in ("cam_drop", "random_drop") if c in table.columns]
    head = "".join(f"<th>{html.escape(COLUMNS.get(c) or _robust_header(c))}</th>" for c in columns)
    rows = []
    for record in table.to_dict("records"):
        cells = "".join(_cell(record, c) for c in columns)
        rows.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table class="sortable" id="variants"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def img_tag(path: Path, alt: str) -> str:
    """An <img> with the PNG inline as a data URI."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _figure(path: Path, caption: str) -> str:
    return f"<figure><figcaption>{html.escape(caption)}</figcaption>{img_tag(path, caption)}</figure>"


def claims_html(claims: pd.DataFrame) -> str:
    """The claims table: one row per claim, its verdict first."""
    cols = ["verdict", *[c for c in claims.columns if c != "verdict"]]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    rows = "".join(
        "<tr>" + "".join(f'<td style="text-align:left">{html.escape(str(r[c]))}</td>' for c in cols) + "</tr>"
        for r in claims.to_dict("records")
    )
    table = f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
    return f'<div class="table-wrap">{table}</div>'


def render(
    title: str,
    table: pd.DataFrame,
    sections: list[Section],
    claims: pd.DataFrame | None = None,
    first: str = "",
    report_tables: str = "",
) -> str:
    """The page: title, the `first` screen (HTML: what the run shows), the variants table, the claims table (if
    any), the report's own tables with ours beside (HTML, if any), then each (heading, note, [(png, caption)])
    section that has images."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        first,
        '<p class="note">Click a column header to sort. Accuracies in %. FGSM/PGD ε: accuracy under attack with '
        "that L∞ radius in pixel units, on a fixed test subset (params.yaml evaluate.robust). CAM / random drop: fall "
        "in the predicted class's probability when the top-k heatmap pixels, or as many random pixels, are "
        "deleted (evaluate.explain).</p>",
        "<h2>Variants</h2>",
        table_html(table),
    ]
    if claims is not None:
        parts += [
            "<h2>Claims</h2>",
            '<p class="note">Welch 95% CI of the difference over seeds; equal claims by TOST (90% CI inside the '
            "margin); direction Holm-adjusted over the preset's claims on all its datasets, beside the raw one; size "
            "by equivalence to the report's effect ± its margin (our 90% CI inside: same size; our 95% CI outside: "
            "larger / smaller; else undecided); the verdict is 'reproduced in sign and size' only when both hold; "
            "each inconclusive verdict says the smallest effect these runs detect and the seeds a decision needs, "
            "and every claim the seeds that detect the report's effect.</p>",
            claims_html(claims),
        ]
    if report_tables:
        parts += [
            "<h2>The report's tables, ours beside</h2>",
            '<p class="note">Each of the report\'s printed numbers, then ours on the same metric: mean ± std over '
            "seeds (n runs, pooled over the row's variants), and the scale ours ran at.</p>",
            report_tables,
        ]
    for heading, note, images in filter(None, sections):
        if not images:
            continue
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if note:
            parts.append(f'<p class="note">{html.escape(note)}</p>')
        parts.append('<div class="grid">' if len(images) > 1 else "<div>")
        parts.extend(_figure(path, caption) for path, caption in images)
        parts.append("</div>")
    parts.append(f"<script>{SORT_JS}</script></body></html>")
    return "\n".join(parts) + "\n"
