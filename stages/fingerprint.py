"""Stage `fingerprint` (runs on every `dvc repro`): data/fingerprint.json, the fingerprint of a local data.root.

DVC cannot watch a tree outside the project, so dvc.yaml marks this stage always_changed; it rewrites the same
bytes while the tree is unchanged, so prepare (which depends on the file) re-runs only when the tree changes.
Running on every repro, it stays cheap: it reads only data.source and data.root (the stages that do work validate
every param); a params.yaml it cannot read that way gets the full load's one-line error.
"""

from pathlib import Path

import yaml

from finegrain import paths
from finegrain.atomic import write_json
from finegrain.cli import run_stage
from finegrain.data.tree import fingerprint_source


def data_source(path: Path = Path("params.yaml")) -> tuple[str, str | None]:
    """(data.source, data.root) of params.yaml, without importing the params model."""
    try:
        data = (yaml.safe_load(path.read_text()) or {}).get("data") or {}
        source, root = data.get("source", "embedded"), data.get("root")
        if isinstance(source, str) and isinstance(root, str | None):
            return source, root
    except (OSError, yaml.YAMLError, AttributeError):
        pass
    from finegrain.params import load_params

    data = load_params(path).data  # raises the one-line error for what could not be read above
    return data.source, data.root


def main(argv: list[str]) -> None:
    write_json(paths.FINGERPRINT, fingerprint_source(*data_source()))


if __name__ == "__main__":
    run_stage(main)
