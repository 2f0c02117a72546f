"""Stage `pretrain`: SimCLR backbone -> data/weights/simclr (init: simclr), kNN curve, metrics/pretrain(.perf).json."""

from finegrain.cli import run_stage
from finegrain.params import load_params
from finegrain.ssl.run import pretrain
from finegrain.stage_metrics import write_stage_metrics


def main(argv: list[str]) -> None:
    write_stage_metrics("pretrain", pretrain(load_params()))


if __name__ == "__main__":
    run_stage(main)
