"""Stage `fingerprint` (runs on every `dvc repro`): validates all of params.yaml, then writes data/fingerprint.json,
the fingerprint of a local data.root.

DVC cannot watch a tree outside the project, so dvc.yaml marks this stage always_changed; it rewrites the same
bytes while the tree is unchanged, so prepare (which depends on the file) re-runs only when the tree changes.
Every stage but `weights` is downstream of it, so every `dvc repro` and `dvc exp run` runs it first: it loads and
checks the whole params.yaml, and an edit no stage tracks (a misspelt group, a variant a later stage would refuse)
stops the run here with the one-line error instead of being skipped over.
"""

from finegrain import paths
from finegrain.atomic import write_json
from finegrain.cli import run_stage
from finegrain.data.tree import fingerprint_source
from finegrain.params import load_params


def main(argv: list[str]) -> None:
    data = load_params().data
    write_json(paths.FINGERPRINT, fingerprint_source(data.source, data.root))


if __name__ == "__main__":
    run_stage(main)
