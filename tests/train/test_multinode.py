"""Multi-node DDP on one machine: the README's multi-node recipe, run as two torchrun "nodes" (c10d rendezvous on
127.0.0.1), trains a variant exactly like `nproc: 2` on one node."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest
import torch
from conftest import REPO, TINY_OVERRIDES, deep_merge, make_project, run
from test_ddp import DDP_VARIANT

from finegrain.errors import ConfigError
from finegrain.train.distributed import check_world, free_port

MARKER = "<!-- multi-node recipe:"


def readme_recipe() -> str:
    """The bash block that follows the multi-node marker in README.md: the command this test runs."""
    text = (REPO / "README.md").read_text()
    assert text.count(MARKER) == 1, "README.md must mark exactly one multi-node recipe"
    block = re.search(r"```bash\n(.*?)```", text[text.index(MARKER) :], re.DOTALL)
    assert block is not None and "torchrun" in block.group(1)
    return block.group(1)


def test_readme_recipe_uses_c10d_and_the_stage_script():
    recipe = readme_recipe()
    for part in ("--rdzv_backend c10d", '--nnodes "$NNODES"', '--nproc_per_node "$NPROC"', "stages/train.py"):
        assert part in recipe, part


def test_stage_refuses_a_torchrun_world_other_than_nproc(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    check_world(2, "v")
    with pytest.raises(ConfigError, match=r"^variants\.v\.nproc: 1, but torchrun started 2 processes .*set nproc: 2$"):
        check_world(1, "v")


@pytest.mark.slow
def test_two_torchrun_nodes_match_nproc_2_on_one_node(tmp_path):
    variants = {"two": {**DDP_VARIANT, "nproc": 2}, "nodes": {**DDP_VARIANT, "nproc": 2}}
    project = make_project(tmp_path / "p", deep_merge(TINY_OVERRIDES, {"variants": variants, "report": {"claims": []}}))
    env = {"PYTHONPATH": str(project / "src"), "FINEGRAIN_THREADS": "1", "OMP_NUM_THREADS": "1"}
    run([sys.executable, "stages/prepare.py"], project, env=env)
    run([sys.executable, "stages/train.py", "two"], project, env=env)

    node_env = {**os.environ, **env, "NNODES": "2", "NPROC": "1", "VARIANT": "nodes", "HEAD": "127.0.0.1"}
    node_env["PORT"] = str(free_port())
    recipe = readme_recipe()
    nodes = [
        subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", recipe],
            cwd=project,
            env=node_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [node.communicate(timeout=900) for node in nodes]
    for node, (out, err) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, f"{out[-3000:]}\n{err[-5000:]}"
    assert not any("launching 2 processes" in err for _, err in outputs)  # ran as ranks, never relaunched itself

    models = project / "data" / "models"
    summary = json.loads((models / "nodes" / "summary.json").read_text())
    assert summary["nproc"] == 2
    hist_two = pd.read_csv(models / "two" / "seed0" / "history.csv")
    hist_nodes = pd.read_csv(models / "nodes" / "seed0" / "history.csv")
    assert len(hist_nodes) == DDP_VARIANT["epochs"]
    for col in ("train_loss", "train_acc", "val_loss", "val_acc"):  # the same 2-rank gloo sums: bit for bit
        assert hist_nodes[col].tolist() == hist_two[col].tolist(), col
    two_state = torch.load(models / "two" / "seed0" / "last.pt", weights_only=True)["state_dict"]
    nodes_state = torch.load(models / "nodes" / "seed0" / "last.pt", weights_only=True)["state_dict"]
    assert nodes_state.keys() == two_state.keys()
    for key, value in two_state.items():
        torch.testing.assert_close(nodes_state[key], value, atol=0, rtol=0, msg=key)
    assert not (project / "data" / "ckpt" / "nodes").exists()  # rank 0 cleaned the resume state
    assert sorted(p.name for p in (project / "data" / "live").iterdir()) == ["nodes", "two"]
