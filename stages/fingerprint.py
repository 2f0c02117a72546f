"""Stage `fingerprint` (runs on every `dvc repro`): validates all of params.yaml, then writes data/fingerprint.json,
the fingerprint of a local data.root.

DVC cannot watch a tree outside the project, so dvc.yaml marks this stage always_changed; it rewrites the same
bytes while the tree is unchanged, so prepare (which depends on the file) re-runs only when the tree changes.
Every stage but `weights` is downstream of it, so every `dvc repro` and `dvc exp run` runs it first: it loads and
checks the whole params.yaml, and an edit no stage tracks (a misspelt group, a variant a later stage would refuse)
stops the run here with the one-line error instead of being skipped over; so does params that read the output of a
stage `finegrain presets apply` turned off in dvc.yaml.
"""

from finegrain import paths
from finegrain.atomic import write_json
from finegrain.cli import run_stage
from finegrain.data.tree import fingerprint_source
from finegrain.params import load_params
from finegrain.pipeline import check_stage_set


def main(argv: list[str]) -> None:
    params = load_params()
    if paths.PIPELINE.is_file():  # (a stage run by hand elsewhere has none)
        check_stage_set(params, paths.PIPELINE.read_text())  # a variant reading a stage a preset turned off
    write_json(paths.FINGERPRINT, fingerprint_source(params.data.source, params.data.root))


if __name__ == "__main__":
    run_stage(main)
