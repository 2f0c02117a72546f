"""Stage `train@<variant>`: train one variant (every seed) -> data/models/<variant>, data/live/<variant>."""

from finegrain.cli import run_stage
from finegrain.config import load_params
from finegrain.errors import ConfigError
from finegrain.train.run import train_variant


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise ConfigError("usage: python stages/train.py <variant>")
    train_variant(load_params(), argv[0])


if __name__ == "__main__":
    run_stage(main)
