"""Stage `crop`: box crops and square crops of the prepared data (data/cropped, data/cropped_square)."""

from finegrain import paths
from finegrain.atomic import write_json
from finegrain.cli import run_stage
from finegrain.config import load_params
from finegrain.crop.crops import crop_dataset


def main(argv: list[str]) -> None:
    params = load_params()
    cfg = params.crop
    report = {}
    for shape, out in (("box", paths.DATA / "cropped"), ("square", paths.DATA / "cropped_square")):
        report[shape] = crop_dataset(paths.PREPARED, out, shape, cfg.margin, cfg.size_px)
    write_json(paths.METRICS / "crop.json", {"mode": cfg.mode, **report})


if __name__ == "__main__":
    run_stage(main)
