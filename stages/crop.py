"""Stage `crop`: box crops and square crops of the prepared data (data/cropped, data/cropped_square), boxes from
crop.mode (none | gt | mmdet); the mmdet detector goes to data/detector, metrics/crop.json, data/perf/crop.json."""

from finegrain import numerics, paths
from finegrain.cli import run_stage
from finegrain.crop.run import run_crop
from finegrain.params import load_params
from finegrain.runtime import configure_threads
from finegrain.stage_metrics import write_metrics


def main(argv: list[str]) -> None:
    params = load_params()
    cfg = params.crop
    configure_threads(cfg.threads, params.base.numerics)
    report = run_crop(
        cfg, paths.PREPARED, paths.DATA / "cropped", paths.DATA / "cropped_square", paths.DATA / "detector"
    )
    write_metrics(report, paths.METRICS / "crop.json", paths.PERF / "crop.json")
    numerics.write_record(paths.numerics_record("crop"))


if __name__ == "__main__":
    run_stage(main)
