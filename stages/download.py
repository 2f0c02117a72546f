"""Stage `download`: make the configured dataset source available under data/raw."""

from finegrain import paths
from finegrain.cli import run_stage
from finegrain.data.source import fetch_source
from finegrain.params import load_params


def main(argv: list[str]) -> None:
    params = load_params()
    fetch_source(params.data, paths.RAW)


if __name__ == "__main__":
    run_stage(main)
