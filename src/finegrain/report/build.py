"""The report stage: one table of all variants (CSV + Markdown), PNG plots and index.html, from params' variants."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from finegrain.atomic import atomic_dir
from finegrain.errors import DataError
from finegrain.params import Params
from finegrain.report.claims_report import (
    claims_frame,
    claims_json,
    claims_markdown,
    judge_claims,
    train_record,
)
from finegrain.report.config import family_note, other_dataset_claims
from finegrain.report.figures import confusion_png, robustness_png
from finegrain.report.html import Section, render
from finegrain.report.summary import summary_html, summary_markdown, summary_rows, verdict_rows
from finegrain.report.tables import report_tables, tables_html, tables_markdown

log = logging.getLogger(__name__)


def load_variant(name: str, metrics_dir: Path, perf_dir: Path) -> tuple[dict, dict]:
    """(quality metrics, timings) of a variant, as evaluate@<name> wrote them (<metrics_dir>/<name>.json,
    <perf_dir>/<name>.json)."""
    quality_path, perf_path = metrics_dir / f"{name}.json", perf_dir / f"{name}.json"
    for path in (quality_path, perf_path):
        if not path.is_file():
            raise DataError(f"{path}: missing; run `dvc repro evaluate@{name}`")
    return json.loads(quality_path.read_text()), json.loads(perf_path.read_text())


def variants_table(params: Params, metrics_dir: Path, perf_dir: Path) -> pd.DataFrame:
    """One row per variant in params order: val/test accuracy (mean, std when seeds > 1), epoch time, params."""
    rows = []
    for name in params.variants:
        cfg = params.variant(name)
        quality, perf = load_variant(name, metrics_dir, perf_dir)
        rows.append(
            {
                "variant": name,
                "model": cfg.model,
                "init": cfg.init,
                "data": cfg.data,
                "mode": cfg.mode,
                "val_acc": quality["val"]["top1"],
                "val_acc_std": quality["val"].get("top1_std", 0.0),
                "test_acc": quality["test"]["top1"],
                "test_acc_std": quality["test"].get("top1_std", 0.0),
                "macro_f1": quality["test"]["macro_f1"],
                "epoch_time_s": perf["epoch_time_s"],
                "train_time_s": perf["train_time_s"],
                "params": quality["params"],
                "seeds": quality["seeds"],
                **_robust_columns(quality.get("robust", {})),
                **{k: quality["explain"][k] for k in ("cam_drop", "random_drop") if k in quality.get("explain", {})},
            }
        )
    return pd.DataFrame(rows)


def _robust_columns(robust: dict) -> dict[str, float]:
    """{fgsm_eps_2_255: accuracy, ...} (and `_std` columns) from a variant's `robust` metrics."""
    return {
        f"{attack}_{key}": value
        for attack, curve in robust.items()
        if isinstance(curve, dict)
        for key, value in curve.items()
    }


def _markdown(table: pd.DataFrame) -> str:
    def pct(m, s):
        return f"{100 * m:.2f}" + (f" ± {100 * s:.2f}" if s else "")

    lines = [
        "| variant | model | data | init | mode | val acc % | test acc % | macro-F1 | time/epoch s | params |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.variant} | {r.model} | {r.data} | {r.init} | {r.mode} | {pct(r.val_acc, r.val_acc_std)} | "
            f"{pct(r.test_acc, r.test_acc_std)} | {r.macro_f1:.3f} | {r.epoch_time_s:.2f} | {r.params:,} |"
        )
    return "\n".join(lines) + "\n"


def _histories(params: Params, models_dir: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for name in params.variants:
        seed = params.variant(name).seeds[0]
        path = models_dir / name / f"seed{seed}" / "history.csv"
        if path.is_file():
            out[name] = pd.read_csv(path)
    return out


def _plots(table: pd.DataFrame, histories: dict[str, pd.DataFrame], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.errorbar(table["train_time_s"], 100 * table["test_acc"], yerr=100 * table["test_acc_std"], fmt="o")
    for r in table.itertuples():
        ax.annotate(
            r.variant, (r.train_time_s, 100 * r.test_acc), textcoords="offset points", xytext=(4, 4), fontsize=8
        )
    ax.set(xlabel="training time (s)", ylabel="test accuracy (%)", title="Accuracy vs training time")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_time.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, hist in histories.items():
        axes[0].plot(hist["epoch"], hist["train_loss"], marker=".", label=name)
        axes[1].plot(hist["epoch"], 100 * hist["val_acc"], marker=".", label=name)
    axes[0].set(xlabel="epoch", ylabel="train loss", title="Training loss")
    axes[1].set(xlabel="epoch", ylabel="val accuracy (%)", title="Validation accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "training_curves.png", dpi=110)
    plt.close(fig)


def _eval_outputs(params: Params, eval_dir: Path) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, pd.DataFrame]]]:
    """(confusion matrix per variant, {variant: {attack: robustness curve}}) from data/eval/<variant>/."""
    matrices, curves = {}, {}
    for name in params.variants:
        confusion = eval_dir / name / "confusion_matrix.csv"
        if confusion.is_file():
            matrices[name] = pd.read_csv(confusion, index_col=0)
        curves[name] = {p.stem: pd.read_csv(p) for p in sorted((eval_dir / name / "robust").glob("*.csv"))}
    return matrices, curves


def _html_sections(params: Params, tmp: Path, eval_dir: Path) -> list[Section]:
    """(heading, note, [(png, caption)]) per page section; writes the confusion and robustness PNGs into tmp."""
    matrices, curves = _eval_outputs(params, eval_dir)
    confusion = [(tmp / "confusion_matrices.png", "confusion matrices, test split")]
    robust = [(tmp / "robustness.png", "robust accuracy vs ε")]
    heatmaps = [
        (eval_dir / name / "explain" / png, f"{name}: {what}")
        for name in params.variants
        for png, what in (("cam.png", "heatmaps"), ("feature_maps.png", "feature maps"))
        if (eval_dir / name / "explain" / png).is_file()
    ]
    return [
        ("Accuracy vs training time", "", [(tmp / "accuracy_vs_time.png", "test accuracy vs training time")]),
        ("Training curves", "", [(tmp / "training_curves.png", "training loss and validation accuracy")]),
        ("Confusion matrices", "Rows: true class; colour: share of the row.", confusion)
        if confusion_png(matrices, confusion[0][0])
        else None,
        ("Robustness", "Accuracy under FGSM and PGD on the fixed test subset.", robust)
        if robustness_png(curves, robust[0][0])
        else None,
        ("Heatmaps and feature maps", "First seed's model on fixed test images.", heatmaps),
        (
            "Generated training images",
            "Generated images among each variant's training images, a row per class.",
            [
                (eval_dir / name / "explain" / "generated.png", f"{name}: generated training images")
                for name in params.variants
                if (eval_dir / name / "explain" / "generated.png").is_file()
            ],
        ),
    ]


def build_report(
    params: Params, out_dir: Path, models_dir: Path, eval_dir: Path, metrics_dir: Path, perf_dir: Path
) -> pd.DataFrame:
    """Write table.csv, table.md, plots, claims.{md,json} (when claims are declared) and the self-contained
    index.html to out_dir atomically; returns the table.

    Reads what the variants' stages wrote: models_dir/<v>/ (train: summary.json, seed<k>/history.csv),
    eval_dir/<v>/ (evaluate's figures), metrics_dir/<v>.json (quality) and perf_dir/<v>.json (timings).
    """
    table = variants_table(params, metrics_dir, perf_dir)
    histories = _histories(params, models_dir)
    verdicts = judge_claims(params, metrics_dir, perf_dir, models_dir)
    left_out = other_dataset_claims(params.report, params.data.dataset)
    if left_out:
        log.warning("%s", left_out)
    claims = claims_frame(verdicts) if verdicts else None
    tables = report_tables(params)
    trained = {n: train_record(n, models_dir) for n in params.variants}
    shown = summary_rows(
        params,
        [{"variant": n, **load_variant(n, metrics_dir, perf_dir)[0]} for n in params.variants],
        {n: record.get("checks", {}) for n, record in trained.items()},
        {n: record["upsampled"] for n, record in trained.items() if "upsampled" in record},
    )
    claimed = verdict_rows(verdicts)
    with atomic_dir(out_dir) as tmp:
        table.to_csv(tmp / "table.csv", index=False)
        (tmp / "table.md").write_text(_markdown(table))
        (tmp / "summary.md").write_text(summary_markdown(shown, claimed))
        if claims is not None or tables:
            (tmp / "claims.md").write_text(_claims_md(params, claims, tables))
            doc = {"claims": claims_json(verdicts), "tables": tables}
            (tmp / "claims.json").write_text(json.dumps(doc, indent=2) + "\n")
        _plots(table, histories, tmp)
        sections = _html_sections(params, tmp, eval_dir)
        title = f"finegrain report: {params.data.dataset}, {len(table)} variants"
        (tmp / "index.html").write_text(
            render(title, table, sections, claims, summary_html(shown, claimed, _family(params)), tables_html(tables))
        )
    log.info("report:\n%s", summary_markdown(shown, claimed))
    if claims is not None or tables:
        log.info("claims:\n%s", _claims_md(params, claims, tables))
    return table


def _claims_md(params: Params, claims: pd.DataFrame | None, tables: list[dict]) -> str:
    """claims.md: the claims table, then the report's own tables with ours beside."""
    parts = [claims_markdown(claims, _claims_header(params))] if claims is not None else []
    if tables:
        parts.append(f"## The report's tables, ours beside\n\n{tables_markdown(tables)}")
    return "\n".join(parts)


def _claims_header(params: Params) -> str:
    preset = params.report.preset or "params.yaml"
    scale = f", scale {params.report.scale}" if params.report.scale else ""
    lines = [other_dataset_claims(params.report, params.data.dataset), _family(params)]
    return f"Claims of {preset}{scale}.\n" + "".join(f"{line}.\n" for line in lines if line)


def _family(params: Params) -> str:
    return family_note(params.report, params.data.dataset)
