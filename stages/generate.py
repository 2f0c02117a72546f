"""Stage `generate`: DCGAN / DDPM images per class (data/generated), sample grids, metrics/generate.json."""

from finegrain import paths
from finegrain.atomic import write_json
from finegrain.cli import run_stage
from finegrain.config import load_params
from finegrain.generate.run import run_generate


def main(argv: list[str]) -> None:
    write_json(paths.METRICS / "generate.json", run_generate(load_params()))


if __name__ == "__main__":
    run_stage(main)
