"""Stage `augment`: data/augmented = the generate input with generated images added to its train split."""

from finegrain import paths
from finegrain.atomic import write_json
from finegrain.cli import run_stage
from finegrain.config import load_params
from finegrain.generate.run import run_augment


def main(argv: list[str]) -> None:
    write_json(paths.METRICS / "augment.json", run_augment(load_params()))


if __name__ == "__main__":
    run_stage(main)
