"""Where every stage reads and writes (relative to the project root; mirrored by dvc.yaml)."""

from __future__ import annotations

from pathlib import Path

PIPELINE = Path("dvc.yaml")  # read by the fingerprint stage: which optional stages a preset turned off
DATA = Path("data")
RAW = DATA / "raw"
FINGERPRINT = DATA / "fingerprint.json"  # fingerprint stage: a local data.root's paths, sizes, mtimes
PREPARED = DATA / "prepared"
WEIGHTS = DATA / "weights"
MODELS = DATA / "models"
LIVE = DATA / "live"
CKPT = DATA / "ckpt"
FEATURES = DATA / "features"  # cached frozen-backbone features (not a DVC output; see train.features)
EVAL = DATA / "eval"
REPORTS = DATA / "reports"
GENERATED = DATA / "generated"  # generate stage: <method>/ shard datasets + generator.pt
AUGMENTED = DATA / "augmented"  # add_generated stage: real training split + generated images (data input)
PLOTS = DATA / "plots"  # grids and dvclive logs of the generate and pretrain stages
GENERATE_GRIDS = PLOTS / "generate" / "grids"  # <method>.png: one row of generated images per class
GENERATE_LIVE = PLOTS / "generate" / "live"  # dvclive: the generators' losses
PRETRAIN_LIVE = PLOTS / "pretrain" / "live"  # dvclive: SimCLR loss, lr and kNN val accuracy
METRICS = Path("metrics")  # quality only (DVC metrics, committed, cache: false): metrics/<stage>.json
VARIANT_METRICS = METRICS / "variants"  # metrics/variants/<variant>.json: a variant's quality (gated)
NUMERICS = METRICS / "numerics"  # <stage>.json, train/<v>.json, evaluate/<v>.json: what decided the bits (committed)
PERF = DATA / "perf"  # timings, never DVC metrics: data/perf/<stage>.json, data/perf/variants/<variant>.json


def data_input(name: str) -> Path:
    """Directory of a variant's data input (prepared, cropped, cropped_square)."""
    return DATA / name


def model_dir(variant: str) -> Path:
    return MODELS / variant


def eval_dir(variant: str) -> Path:
    """data/eval/<variant>: predictions, confusion matrix, per-class accuracy, robustness curves, heatmaps."""
    return EVAL / variant


def init_weights(init: str) -> Path:
    """data/weights/<init>: the weights a variant starts from (none, hub, lite0, simclr)."""
    return WEIGHTS / init


def variant_metrics(variant: str, root: Path = VARIANT_METRICS) -> Path:
    """metrics/variants/<variant>.json: the variant's quality metrics (what `dvc metrics diff` and the gate see)."""
    return root / f"{variant}.json"


def variant_perf(variant: str, root: Path = PERF / "variants") -> Path:
    """data/perf/variants/<variant>.json: the variant's timings, device and machine (shown by the report)."""
    return root / f"{variant}.json"


def numerics_record(stage: str, variant: str | None = None) -> Path:
    """metrics/numerics/<stage>.json (or <stage>/<variant>.json): the machine and numerics a stage's results were
    computed with (finegrain.numerics.record; not a DVC metric)."""
    return NUMERICS / stage / f"{variant}.json" if variant else NUMERICS / f"{stage}.json"
