"""Stage `pretrain`: SimCLR backbone -> data/weights/simclr (init: simclr), kNN curve, metrics/pretrain.json."""

from finegrain import paths
from finegrain.atomic import write_json
from finegrain.cli import run_stage
from finegrain.config import load_params
from finegrain.ssl.run import pretrain


def main(argv: list[str]) -> None:
    write_json(paths.METRICS / "pretrain.json", pretrain(load_params()))


if __name__ == "__main__":
    run_stage(main)
