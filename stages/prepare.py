"""Stage `prepare`: decode every image once into uint8 shards + index (data/prepared), metrics/prepare.json."""

from finegrain import paths
from finegrain.cli import run_stage
from finegrain.data.prepare import prepare_dataset
from finegrain.data.registry import get_dataset
from finegrain.params import load_params
from finegrain.stage_metrics import write_metrics


def main(argv: list[str]) -> None:
    params = load_params()
    raw = get_dataset(params.data, paths.RAW)
    report = prepare_dataset(
        raw,
        paths.PREPARED,
        params.prepare.size_px,
        params.prepare.max_bad_fraction,
        params.prepare.shard_images,
        params.prepare.workers,
    )
    write_metrics(report, paths.METRICS / "prepare.json")


if __name__ == "__main__":
    run_stage(main)
