"""Stage `evaluate@<variant>`: metrics/variants/<v>.json (quality), data/perf/variants/<v>.json, data/eval/<v>."""

from finegrain import numerics, paths
from finegrain.cli import run_stage
from finegrain.errors import ConfigError
from finegrain.evaluate.run import evaluate_variant
from finegrain.params import Params, load_params
from finegrain.stage_metrics import write_metrics


def evaluate(params: Params, name: str) -> dict:
    """Evaluate variant `name` from data/models/<name> and its data input; write its metrics and timings."""
    data_dir = paths.data_input(params.variant(name).data)
    metrics = evaluate_variant(params, name, data_dir, paths.model_dir(name), paths.eval_dir(name))
    write_metrics(metrics, paths.variant_metrics(name), paths.variant_perf(name))
    numerics.write_record(paths.numerics_record("evaluate", name))
    return metrics


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise ConfigError("usage: python stages/evaluate.py <variant>")
    evaluate(load_params(), argv[0])


if __name__ == "__main__":
    run_stage(main)
