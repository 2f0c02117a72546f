"""Stage `generate`: DCGAN / DDPM images per class (data/generated), sample grids, metrics/generate(.perf).json."""

from finegrain.cli import run_stage
from finegrain.generate.run import run_generate
from finegrain.params import load_params
from finegrain.stage_metrics import write_stage_metrics


def main(argv: list[str]) -> None:
    write_stage_metrics("generate", run_generate(load_params()))


if __name__ == "__main__":
    run_stage(main)
