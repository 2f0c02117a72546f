"""Stage `add_generated`: data/augmented = the generate input with generated images added to its train split."""

import logging

from finegrain import paths
from finegrain.atomic import atomic_dir
from finegrain.cli import run_stage
from finegrain.data.augmented import write_augmented
from finegrain.params import load_params
from finegrain.stage_metrics import write_metrics

log = logging.getLogger("finegrain.add_generated")


def main(argv: list[str]) -> None:
    cfg = load_params().generate
    method, ratio = cfg.augment.method, cfg.augment.ratio
    with atomic_dir(paths.AUGMENTED) as tmp:
        counts = write_augmented(paths.data_input(cfg.input), paths.GENERATED / method, tmp, ratio)
    log.info("augmented: %d real + %d %s training images", counts["real_train"], counts["generated_train"], method)
    write_metrics({"method": method, "ratio": ratio, **counts}, paths.METRICS / "add_generated.json")


if __name__ == "__main__":
    run_stage(main)
