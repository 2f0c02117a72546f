"""The model factory: every registered family builds with a new head, freezing leaves only the head trainable."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from finegrain.errors import FinegrainError
from finegrain.models.factory import count_parameters, create_model
from finegrain.models.names import is_known_model

# (name, input size, max params): size caps keep the test quick on a CPU
MODELS = [
    ("small_cnn", 32, 2_000_000),
    ("resnet18", 64, 12_000_000),
    ("efficientnet_b0", 64, 5_000_000),
    ("efficientnet_lite0", 64, 4_000_000),
    ("vgg16", 32, 140_000_000),
    ("vit_b_16", 224, 90_000_000),
]


@pytest.mark.parametrize(("name", "size", "cap"), MODELS)
def test_create_model_new_head(name, size, cap):
    model = create_model(name, num_classes=7)
    assert count_parameters(model) < cap
    with torch.no_grad():
        out = model.eval()(torch.rand(2, 3, size, size))
    assert out.shape == (2, 7)
    assert model.head.out_features == 7


def test_frozen_backbone_trains_only_the_head():
    model = create_model("resnet18", 3)
    model.set_backbone_trainable(False)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["net.fc.weight", "net.fc.bias"]
    model.train()
    assert not model.net.bn1.training  # frozen BatchNorm keeps its statistics


def test_known_and_unknown_names(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert is_known_model("resnext101_32x8d") and is_known_model("efficientnet_v2_s") and is_known_model("vit_b_16")
    assert not is_known_model("resnet9000")
    assert not is_known_model("resnet9000")  # an unknown name is never remembered


def test_a_known_name_is_checked_without_importing_torchvision_or_timm_again(tmp_path):
    """Validating params (every stage, the fingerprint stage on every repro) must not pay seconds of imports for a
    model name it has already found, for the same torchvision and timm versions."""
    code = (
        "import sys; from finegrain.models.names import is_known_model; "
        "print(is_known_model('tf_efficientnet_lite0'), 'timm' in sys.modules, 'torchvision' in sys.modules)"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True) for _ in range(2)]
    assert [r.stdout.split() for r in runs] == [["True", "True", "True"], ["True", "False", "False"]], runs
    cache = json.loads((tmp_path / "finegrain" / "known_models.json").read_text())
    assert cache["known"] == ["tf_efficientnet_lite0"] and "timm " in cache["libraries"]
    cache["libraries"] = "torchvision 0.0, timm 0.0"  # other versions: checked again
    (tmp_path / "finegrain" / "known_models.json").write_text(json.dumps(cache))
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert again.stdout.split() == ["True", "True", "True"]


def test_lite0_weights_missing_is_a_clear_error(tmp_path):
    with pytest.raises(FinegrainError, match="weights.pt: efficientnet_lite0 ImageNet weights missing"):
        create_model("efficientnet_lite0", 3, "lite0", weights_dir=tmp_path)


def test_lite0_init_loads_imagenet_backbone(tmp_path):
    from finegrain.init_weights import export_init_weights

    export_init_weights(tmp_path)
    model = create_model("efficientnet_lite0", 3, "lite0", weights_dir=tmp_path / "lite0")
    reference = torch.load(tmp_path / "lite0" / "weights.pt", weights_only=True)
    assert torch.equal(model.net.conv_stem.weight, reference["conv_stem.weight"])
    assert model.mean.flatten().tolist() == pytest.approx([127 / 255] * 3)
