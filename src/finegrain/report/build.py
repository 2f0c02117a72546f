"""The report stage: one table of all variants (CSV + Markdown) and PNG plots, from params' variant list."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from finegrain import paths
from finegrain.atomic import atomic_dir
from finegrain.config import Params
from finegrain.errors import DataError

log = logging.getLogger(__name__)


def variants_table(params: Params) -> pd.DataFrame:
    """One row per variant in params order: val/test accuracy (mean, std when seeds > 1), epoch time, params."""
    rows = []
    for name in params.variants:
        cfg = params.variant(name)
        quality_path, perf_path = paths.METRICS / f"{name}.json", paths.METRICS / f"{name}.perf.json"
        if not quality_path.is_file():
            raise DataError(f"{quality_path}: missing; run `dvc repro evaluate@{name}`")
        quality, perf = json.loads(quality_path.read_text()), json.loads(perf_path.read_text())
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
            }
        )
    return pd.DataFrame(rows)


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


def _histories(params: Params) -> dict[str, pd.DataFrame]:
    out = {}
    for name in params.variants:
        seed = params.variant(name).seeds[0]
        path = paths.seed_dir(name, seed) / "history.csv"
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


def build_report(params: Params, out_dir: Path = paths.REPORTS) -> pd.DataFrame:
    """Write table.csv, table.md and plots to out_dir atomically; returns the table."""
    table = variants_table(params)
    histories = _histories(params)
    with atomic_dir(out_dir) as tmp:
        table.to_csv(tmp / "table.csv", index=False)
        (tmp / "table.md").write_text(_markdown(table))
        _plots(table, histories, tmp)
    log.info("report:\n%s", _markdown(table))
    return table
