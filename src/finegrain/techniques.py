"""Every technique option of the five reports as a variant override (params of `variants.<name>`).

The integration test trains each of them at tiny scale; `bench/techniques.py` times each on real images.
"""

from __future__ import annotations

TECHNIQUES: dict[str, dict] = {
    "se_resnet34": {"model": "resnet34", "mods": {"se": {"stages": ["layer1", "layer4"], "reduction": 16}}},
    "bottleneck_resnet34": {"model": "resnet34", "mods": {"bottleneck": True}},
    "eca_effnet_b0": {"model": "efficientnet_b0", "mods": {"eca": True}},
    "deform_after_conv1": {"model": "resnet18", "mods": {"deform": "after_conv1"}},
    "deform_parallel_conv1": {"model": "resnet18", "mods": {"deform": "parallel_conv1"}},
    "deform_after_layers": {"model": "resnet18", "mods": {"deform": "after_layers"}},
    "small_resnet_grid": {"model": "small_resnet", "model_args": {"blocks": 3, "kernel_size": 4}, "dropout": 0.3},
    "vgg19_two_phase": {
        "model": "vgg19",
        "mods": {"dense_head": {"hidden": [512, 512, 512], "dropout": 0.4}},
        "mode": "two_phase",
        "epochs": 2,
        "phase1_epochs": 1,
        "phase2_lr": 1e-5,
    },
    "tcel_semi_hard": {
        "model": "small_cnn",
        "loss": "tcel",
        "mods": {"embedding_head": {"embedding_dim": 16}},
        "triplet": {"mining": "semi-hard", "margin": 0.5, "weight": 1.0},
    },
    "triplet_only_hard": {
        "model": "small_cnn",
        "loss": "triplet",
        "mods": {"embedding_head": True},
        "triplet": {"mining": "hard"},
    },
    "ce_embedding_head_pk": {  # report B's cross-entropy arm: TCEL's head and P×K batches, CE alone
        "model": "small_cnn",
        "mods": {"embedding_head": {"embedding_dim": 16}},
        "sampler": "pk",
        "pk_k": 2,
    },
    "elastic_net": {"model": "small_cnn", "elastic_net": {"alpha": 0.5, "lam": 0.01}, "dropout": 0.5},
    "cutmix_mixup": {"model": "small_cnn", "mix": {"mode": "random"}},
    "sgd_steplr_bs16": {
        "model": "small_cnn",
        "optimizer": "sgd",
        "lr": 0.001,
        "scheduler": "step",
        "step_size": 7,
        "batch_size": 16,
    },
    "plateau_early_stop": {"model": "small_cnn", "scheduler": "plateau", "early_stopping_patience": 1, "epochs": 3},
    "frozen_lite0": {"model": "tf_efficientnet_lite0", "init": "lite0", "mode": "frozen"},
    "few_shot_12": {"model": "small_cnn", "train_images": 12},
    **{
        f"augment_{r}": {"model": "small_cnn", "augment": r}
        for r in (
            "reportC",
            "trivialaugment",
            "brightness",
            "hflip",
            "vflip",
            "rotation",
            "zoom",
            "cutout",
            "randaugment",
            "flips",
        )
    },
}
