"""The generate and pretrain stages in the tiny pipeline: outputs, metrics, and the inputs they feed."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from conftest import dvc, run

from finegrain import checks, paths
from finegrain.data.shards import open_split, read_meta

pytestmark = pytest.mark.slow


def test_generate_stage_outputs_and_metrics(tiny_project):
    from diffusers import DDIMScheduler, UNet2DModel

    from finegrain.generate.ddpm import sample

    metrics = json.loads((tiny_project / "metrics" / "generate.json").read_text())
    ref = metrics["reference"]
    judged = ref["classifier_val_images"]
    judge_low = checks.wilson(ref["classifier_val_acc"] * judged, judged)[0]
    assert 0.0 <= ref["classifier_val_acc"] <= 1.0 and ref["judge_ok"] == (judge_low >= 0.6)
    assert ref["images"] == 12 and ref["kid_subset_size"] == 6 and ref["judge_size_px"] == 16  # the DDPM's 16 px
    assert set(ref["real_val_vs_train"]) == {"fid", "kid", "kid_std"}
    for method in ("dcgan", "ddpm"):
        m = metrics[method]
        assert 0.0 <= m["recognisability"]["mean"] <= 1.0 and len(m["recognisability"]["per_class"]) == 6
        zeros = [c for c, share in m["recognisability"]["per_class"].items() if share == 0]
        recognised, acc = m["recognisability"]["mean"], ref["classifier_val_acc"]
        found = checks.generator(method, recognised, m["images"], acc, judged, zeros)
        assert m["check"] == found.to_dict()
        assert read_meta(tiny_project / "data" / "generated" / method)["checks"] == {method: m["check"]}
        assert m["fid"] >= 0 and m["kid_std"] >= 0 and m["images"] == 24
        gen = open_split(tiny_project / "data" / "generated" / method, "train")
        assert len(gen) == 24 and gen.index["generated"].all() and gen.size_px == 32  # upsampled to the crops' size
        assert (tiny_project / "data" / "plots" / "generate" / "grids" / f"{method}.png").stat().st_size > 500
    assert (tiny_project / "data" / "generated" / "dcgan" / "generator.pt").is_file()
    ddpm = tiny_project / "data" / "generated" / "ddpm"
    info = json.loads((ddpm / "generator.json").read_text())
    unet, scheduler = UNet2DModel.from_pretrained(ddpm / "unet"), DDIMScheduler.from_pretrained(ddpm / "scheduler")
    assert info["null_class"] == 6 and unet.config.num_class_embeds == 7 and len(info["class_names"]) == 6
    images = sample(unet, scheduler, torch.tensor([0, 5]), info["null_class"], steps=2)
    assert images.shape == (2, 3, 16, 16)
    tsv = tiny_project / "data" / "plots" / "generate" / "live" / "plots" / "metrics" / "dcgan" / "loss_d.tsv"
    assert len(tsv.read_text().strip().splitlines()) == 2  # header + 1 epoch


def test_augmented_input_keeps_val_and_test_of_the_crops(tiny_project):
    data = tiny_project / "data"
    train = open_split(data / "augmented", "train")
    generated = train.index["generated"].to_numpy()
    assert generated.sum() == 6 * 4  # ratio 0.25 x 24 real per class = 6, capped by per_class 4
    assert (~generated).sum() == len(open_split(data / "cropped", "train"))
    for split in ("val", "test"):
        aug, crop = open_split(data / "augmented", split), open_split(data / "cropped", split)
        assert not aug.index["generated"].any() and len(aug) == len(crop)
        assert all(np.array_equal(aug.image(i), crop.image(i)) for i in range(len(crop)))


def test_pretrain_stage_writes_a_backbone_for_init_simclr(tiny_project):
    from finegrain.models.factory import create_model

    metrics = json.loads((tiny_project / "metrics" / "pretrain.json").read_text())
    assert 0.0 <= metrics["knn_val_acc"] <= 1.0 and 0.0 <= metrics["knn_val_acc_random_init"] <= 1.0
    assert metrics["knn_val_images"] == len(metrics["seeds"]) * 8 * 6  # every seed's kNN on the 8 x 6 val images
    model = create_model("small_cnn", 6, "simclr", weights_dir=tiny_project / "data" / "weights" / "simclr" / "seed0")
    assert model.head_out_features == 6
    tsv = tiny_project / "data" / "plots" / "pretrain" / "live" / "plots" / "metrics" / "knn_val_acc.tsv"
    assert len(tsv.read_text().strip().splitlines()) == 1 + 2  # random init (step 0) + 1 epoch


def test_variant_trains_on_augmented_data_from_the_simclr_backbone_with_fgsm(tiny_project):
    import yaml

    config = yaml.safe_load((tiny_project / "data" / "models" / "ssl_aug_adv" / "config.yaml").read_text())
    assert (config["data"], config["init"], config["adv"]["method"]) == ("augmented", "simclr", "fgsm")
    lock = yaml.safe_load((tiny_project / "dvc.lock").read_text())["stages"]["train@ssl_aug_adv"]
    deps = {d["path"] for d in lock["deps"]}
    assert {"data/augmented", "data/weights/simclr"} <= deps and "data/prepared" not in deps
    quality = json.loads((tiny_project / paths.variant_metrics("ssl_aug_adv")).read_text())
    assert (
        0.0 <= quality["test"]["top1"] <= 1.0
        and quality["robust"]["fgsm"]["eps_0"] >= quality["robust"]["fgsm"]["eps_8_255"]
    )


def test_generate_rerun_gives_the_same_quality_metrics(tiny_project, tmp_path):
    """Same seed on CPU -> byte-identical metrics/generate.json (judge, generators, EMA, FID and KID subsets) and
    numerics record. In a clone: the shared tiny project stays as reproduced (its timings would change)."""
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(tiny_project), str(clone)], tmp_path)
    dvc(clone, "config", "--local", "cache.dir", str(tiny_project / ".dvc" / "cache"))
    dvc(clone, "checkout")
    run([sys.executable, "stages/generate.py"], clone, env={"FINEGRAIN_THREADS": "1"})
    for path in ("metrics/generate.json", "metrics/numerics/generate.json"):
        assert (clone / path).read_bytes() == (tiny_project / path).read_bytes(), path
