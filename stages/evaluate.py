"""Stage `evaluate@<variant>`: metrics/variants/<v>.json (quality), data/perf/variants/<v>.json, data/eval/<v>."""

from finegrain.cli import run_stage
from finegrain.errors import ConfigError
from finegrain.evaluate.run import evaluate_variant
from finegrain.params import load_params


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise ConfigError("usage: python stages/evaluate.py <variant>")
    evaluate_variant(load_params(), argv[0])


if __name__ == "__main__":
    run_stage(main)
