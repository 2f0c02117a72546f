"""A trained variant on disk (data/models/<variant>/): what train writes and evaluate and report read.

seed<k>/{best,last}.pt hold the weights and how to rebuild the model (weights_only loads), seed<k>/history.csv the
per-epoch curves; summary.json the seeds' results and config.yaml the variant's params it was trained with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml

from finegrain.atomic import atomic_write_bytes, write_json
from finegrain.errors import DataError
from finegrain.models.factory import create_model
from finegrain.torch_io import load_weights_only, save_state

SUMMARY, CONFIG, HISTORY = "summary.json", "config.yaml", "history.csv"


def seed_dir(variant_dir: Path, seed: int) -> Path:
    """<variant_dir>/seed<k>: one seed's model and history."""
    return variant_dir / f"seed{seed}"


def save_seed(
    out: Path, meta: dict[str, Any], best_state: dict, model: torch.nn.Module, history_rows: list[dict]
) -> None:
    """best.pt (the best epoch's weights), last.pt (the model as trained) and history.csv into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    save_state(out / "best.pt", {"state_dict": best_state, "meta": meta})
    save_state(out / "last.pt", {"state_dict": model.state_dict(), "meta": meta})
    pd.DataFrame(history_rows).to_csv(out / HISTORY, index=False)


def save_variant(variant_dir: Path, name: str, config: dict[str, Any], summary: dict) -> None:
    """summary.json and config.yaml (the variant's resolved params) of a variant whose every seed is saved."""
    write_json(variant_dir / SUMMARY, summary)
    atomic_write_bytes(variant_dir / CONFIG, yaml.safe_dump({"variant": name, **config}).encode())


def read_history(variant_dir: Path, seed: int) -> pd.DataFrame:
    """A seed's per-epoch history (train/val loss and accuracy, lr, epoch time)."""
    return pd.read_csv(seed_dir(variant_dir, seed) / HISTORY)


def trained_summary(variant_dir: Path, name: str, config: dict[str, Any]) -> dict:
    """summary.json of the variant in `variant_dir`, after checking it was trained with `config` (the variant's
    resolved params: a stage run by hand after a params edit would otherwise evaluate the old models under the new
    params)."""
    if not (variant_dir / SUMMARY).is_file():
        raise DataError(f"{variant_dir}: variant {name!r} is not trained yet; run `dvc repro evaluate@{name}`")
    trained = yaml.safe_load((variant_dir / CONFIG).read_text()) if (variant_dir / CONFIG).is_file() else {}
    trained.pop("variant", None)
    current = yaml.safe_load(yaml.safe_dump(config))
    changed = sorted(k for k in current.keys() | trained.keys() if current.get(k) != trained.get(k))
    if changed:
        key = changed[0]
        raise DataError(
            f"{variant_dir}: trained with other params (variants.{name}.{key}: {trained.get(key)!r}, now "
            f"{current.get(key)!r}); run `dvc repro evaluate@{name}` to retrain it first"
        )
    return json.loads((variant_dir / SUMMARY).read_text())


def load_trained(variant_dir: Path, seed: int, which: str = "best") -> torch.nn.Module:
    """Rebuild a trained model from <variant_dir>/seed<k>/<which>.pt (weights_only load), in eval mode."""
    path = seed_dir(variant_dir, seed) / f"{which}.pt"
    if not path.is_file():
        raise DataError(f"{path}: no trained model; run `dvc repro` to train it")
    state = load_weights_only(path, "run `dvc checkout` or `dvc repro` to restore the trained model")
    model = _architecture(state["meta"])
    model.load_state_dict(state["state_dict"])
    return model.eval()


def _architecture(meta: dict) -> torch.nn.Module:
    """The model a checkpoint's `meta` describes, freshly built (init none)."""
    return create_model(
        meta["model"],
        meta["num_classes"],
        "none",
        dropout=meta["dropout"],
        model_args=meta["model_args"],
        mods=meta["mods"],
    )


def load_untrained(variant_dir: Path, seed: int) -> torch.nn.Module:
    """The architecture of <variant_dir>/seed<k>'s model freshly initialised (init none, torch seeded by `seed`, the
    global RNG left as it was), in eval mode: the control of a measure that training is claimed to change."""
    path = seed_dir(variant_dir, seed) / "best.pt"
    if not path.is_file():
        raise DataError(f"{path}: no trained model; run `dvc repro` to train it")
    meta = load_weights_only(path, "run `dvc checkout` or `dvc repro` to restore the trained model")["meta"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _architecture(meta)
    return model.eval()
