"""Stage `train@<variant>`: train one variant (every seed) -> data/models/<variant>, data/live/<variant>.

With the variant's `nproc` > 1 the stage re-runs itself under torchrun (one node, `nproc` processes, DDP). Started by
an outer torchrun (several nodes, README), it runs as one of the ranks, which must number `nproc`.
"""

from finegrain import numerics, paths
from finegrain.cli import run_stage
from finegrain.errors import ConfigError
from finegrain.params import Params, load_params
from finegrain.train import distributed
from finegrain.train.run import TrainPaths, train_variant


def train(params: Params, name: str) -> dict:
    """Train variant `name` from its data input and init weights into data/models/<name>; returns its summary."""
    cfg = params.variant(name)
    where = TrainPaths(
        data=paths.data_input(cfg.data),
        weights=paths.init_weights(cfg.init),
        models=paths.model_dir(name),
        live=paths.LIVE / name,
        ckpt=paths.CKPT / name,
        features=paths.FEATURES,
    )
    summary = train_variant(params, name, where)
    if distributed.is_main_process():
        numerics.write_record(paths.numerics_record("train", name))
    return summary


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise ConfigError("usage: python stages/train.py <variant>")
    params = load_params()
    nproc = params.variant(argv[0]).nproc
    if distributed.under_torchrun():
        distributed.check_world(nproc, argv[0])
    elif nproc > 1:
        distributed.launch(nproc, [__file__, *argv])
        return
    train(params, argv[0])


if __name__ == "__main__":
    run_stage(main)
