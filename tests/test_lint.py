"""The code base stays ruff-clean (lint and format), so style never drifts between contributors."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]])
def test_ruff(args):
    ruff = shutil.which("ruff") or pytest.fail("ruff is not installed (make install-dev)")
    result = subprocess.run([ruff, *args, "src", "stages", "tests"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
