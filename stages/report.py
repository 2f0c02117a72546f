"""Stage `report`: the variants table, plots and the self-contained index.html (data/reports)."""

from finegrain import paths
from finegrain.cli import run_stage
from finegrain.params import load_params
from finegrain.report.build import build_report


def main(argv: list[str]) -> None:
    build_report(load_params(), paths.REPORTS, paths.MODELS, paths.EVAL, paths.VARIANT_METRICS, paths.PERF / "variants")


if __name__ == "__main__":
    run_stage(main)
