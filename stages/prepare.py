"""Stage `prepare`: decode every image once into uint8 shards + index (data/prepared)."""

from finegrain import paths
from finegrain.atomic import write_json
from finegrain.cli import run_stage
from finegrain.data.prepare import prepare_dataset
from finegrain.data.registry import get_dataset
from finegrain.params import load_params


def main(argv: list[str]) -> None:
    params = load_params()
    raw = get_dataset(params.data)
    report = prepare_dataset(
        raw,
        paths.PREPARED,
        params.prepare.size_px,
        params.prepare.max_bad_fraction,
        params.prepare.shard_images,
        params.prepare.workers,
    )
    write_json(paths.METRICS / "prepare.json", report)


if __name__ == "__main__":
    run_stage(main)
