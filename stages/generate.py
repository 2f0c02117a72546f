"""Stage `generate`: DCGAN / DDPM images per class (data/generated), sample grids, metrics/generate.json, timings
data/perf/generate.json."""

from finegrain import numerics, paths
from finegrain.cli import run_stage
from finegrain.generate.run import run_generate
from finegrain.params import load_params
from finegrain.stage_metrics import write_metrics


def main(argv: list[str]) -> None:
    params = load_params()
    metrics = run_generate(
        params,
        paths.data_input(params.generate.input),
        paths.init_weights("lite0"),
        paths.GENERATED,
        paths.GENERATE_GRIDS,
        paths.GENERATE_LIVE,
        paths.CKPT / "generate",
    )
    write_metrics(metrics, paths.METRICS / "generate.json", paths.PERF / "generate.json")
    numerics.write_record(paths.numerics_record("generate"))


if __name__ == "__main__":
    run_stage(main)
