"""Stage `weights`: initial weights variants start from (data/weights/<init>)."""

from finegrain import paths
from finegrain.cli import run_stage
from finegrain.init_weights import export_init_weights


def main(argv: list[str]) -> None:
    export_init_weights(paths.WEIGHTS)


if __name__ == "__main__":
    run_stage(main)
