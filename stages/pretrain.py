"""Stage `pretrain`: SimCLR backbone -> data/weights/simclr (init: simclr), kNN curve, metrics/pretrain.json,
timings data/perf/pretrain.json."""

from finegrain import numerics, paths
from finegrain.cli import run_stage
from finegrain.params import load_params
from finegrain.ssl.run import pretrain
from finegrain.stage_metrics import write_metrics


def main(argv: list[str]) -> None:
    params = load_params()
    metrics = pretrain(
        params,
        paths.data_input(params.pretrain.input),
        paths.init_weights("simclr"),
        paths.PRETRAIN_LIVE,
        paths.CKPT / "pretrain",
    )
    write_metrics(metrics, paths.METRICS / "pretrain.json", paths.PERF / "pretrain.json")
    numerics.write_record(paths.numerics_record("pretrain"))


if __name__ == "__main__":
    run_stage(main)
