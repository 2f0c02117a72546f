"""Reliability: bad params.yaml values are one line naming the key, before any work (no data/ is created)."""

from __future__ import annotations

from pathlib import Path

import pytest
from battery import run_main_here, run_stage_here, write_params
from cases import case, expect


def variant(**values) -> dict:
    return {"variants": {"cnn": {"data": "prepared", "init": "none", **values}}}


def refused(project: Path, overrides: dict, stage: str = "prepare", *args: str) -> str:
    """Run `stage` with params `overrides`; assert it stopped before any work; return its one error line."""
    write_params(project, overrides)
    out = run_stage_here(project, stage, *args)
    assert not (project / "data").exists() and not (project / "metrics").exists()
    return out.error


@case(
    "Params",
    "an unknown key in a variant (variants.cnn.lrr: 0.1, a typo of lr)",
    "error: params.yaml: variants.cnn.lrr: unknown key",
    "nothing runs (exit 2); no data/ is created",
)
def test_unknown_variant_key(tmp_path):
    assert refused(tmp_path, variant(lrr=0.1)) == expect(test_unknown_variant_key)


@case(
    "Params",
    "an unknown key in the shared train defaults (train.epochz: 3)",
    "error: params.yaml: train.epochz: unknown key",
    "nothing runs (exit 2)",
)
def test_unknown_train_key(tmp_path):
    assert refused(tmp_path, {"train": {"epochz": 3}}) == expect(test_unknown_train_key)


@case(
    "Params",
    "a wrong type (variants.cnn.epochs: many)",
    "error: params.yaml: variants.cnn.epochs: Input should be a valid integer, unable to parse string as an integer "
    "(got 'many')",
    "nothing runs (exit 2)",
)
def test_wrong_type(tmp_path):
    assert refused(tmp_path, variant(epochs="many")) == expect(test_wrong_type)


@case(
    "Params",
    "a negative learning rate (variants.cnn.lr: -1)",
    "error: params.yaml: variants.cnn.lr: Input should be greater than 0 (got -1)",
    "nothing runs (exit 2)",
)
def test_negative_value(tmp_path):
    assert refused(tmp_path, variant(lr=-1), "train", "cnn") == expect(test_negative_value)


@case(
    "Params",
    "a zero batch size (variants.cnn.batch_size: 0)",
    "error: params.yaml: variants.cnn.batch_size: Input should be greater than 0 (got 0)",
    "nothing runs (exit 2)",
)
def test_zero_value(tmp_path):
    assert refused(tmp_path, variant(batch_size=0), "train", "cnn") == expect(test_zero_value)


@case(
    "Params",
    "a negative split fraction (data.val_fraction: -0.1)",
    "error: params.yaml: data.val_fraction: Input should be greater than or equal to 0 (got -0.1)",
    "nothing runs (exit 2)",
)
def test_negative_fraction(tmp_path):
    assert refused(tmp_path, {"data": {"val_fraction": -0.1}}, "download") == expect(test_negative_fraction)


@case(
    "Params",
    "an unknown model (variants.cnn.model: resnet9000)",
    "error: params.yaml: variants.cnn.model: unknown model 'resnet9000'; expected small_cnn or a torchvision/timm "
    "model name (got 'resnet9000')",
    "nothing runs (exit 2)",
)
def test_unknown_model(tmp_path):
    assert refused(tmp_path, variant(model="resnet9000")) == expect(test_unknown_model)


@case(
    "Params",
    "an unknown dataset (data.dataset: mnist)",
    "error: params.yaml: data.dataset: unknown dataset 'mnist'; expected one of {datasets} (got 'mnist')",
    "nothing runs (exit 2), not even the download",
)
def test_unknown_dataset(tmp_path):
    from finegrain.data.registry import DATASETS

    error = refused(tmp_path, {"data": {"dataset": "mnist"}}, "download")
    assert error == expect(test_unknown_dataset, datasets=", ".join(sorted(DATASETS)))


@case(
    "Params",
    "an unknown augmentation recipe (variants.cnn.augment: wild)",
    "error: params.yaml: variants.cnn.augment: unknown augment recipe 'wild'; expected one of {recipes} (got 'wild')",
    "nothing runs (exit 2)",
)
def test_unknown_recipe(tmp_path):
    from finegrain.augment.recipes import RECIPES

    error = refused(tmp_path, variant(augment="wild"))
    assert error == expect(test_unknown_recipe, recipes=", ".join(RECIPES))


@case(
    "Params",
    "device augmentation of a per-sample recipe (variants.cnn.augment: trivialaugment, augment_on: device)",
    "error: params.yaml: variants.cnn.augment_on: 'device' (train.augment_on) cannot run recipe 'trivialaugment', "
    "which is per-sample only (batchable: {batchable}); set augment_on: auto or cpu",
    "nothing runs (exit 2)",
)
def test_device_augment_of_a_per_sample_recipe(tmp_path):
    from finegrain.augment.names import BATCHABLE

    error = refused(tmp_path, variant(augment="trivialaugment", augment_on="device"))
    assert error == expect(test_device_augment_of_a_per_sample_recipe, batchable=", ".join(BATCHABLE))


@case(
    "Params",
    "an unknown detector / crop mode (crop.mode: yolo)",
    "error: params.yaml: crop.mode: Input should be {modes} (got 'yolo')",
    "nothing runs (exit 2), not even the download",
)
def test_unknown_crop_mode(tmp_path):
    from typing import get_args

    from finegrain.crop.config import CropCfg

    modes = [repr(m) for m in get_args(CropCfg.model_fields["mode"].annotation)]
    error = refused(tmp_path, {"crop": {"mode": "yolo"}}, "download")
    assert error == expect(test_unknown_crop_mode, modes=", ".join(modes[:-1]) + " or " + modes[-1])


@case(
    "Params",
    "a variant training on a data input no stage produces (variants.cnn.data: upscaled)",
    "error: params.yaml: variants.cnn.data: no stage produces data input 'upscaled'; expected one of {inputs} (got "
    "'upscaled')",
    "nothing runs (exit 2); dvc.yaml never sees data/upscaled",
)
def test_variant_names_missing_data_input(tmp_path):
    from finegrain.data.catalog import DATA_INPUTS

    error = refused(tmp_path, variant(data="upscaled"))
    assert error == expect(test_variant_names_missing_data_input, inputs=", ".join(DATA_INPUTS))


@case(
    "Params",
    "unknown initial weights (variants.cnn.init: imagenet)",
    "error: params.yaml: variants.cnn.init: unknown init 'imagenet'; expected one of {inits} (got 'imagenet')",
    "nothing runs (exit 2)",
)
def test_unknown_init(tmp_path):
    from finegrain.models.names import INITS

    assert refused(tmp_path, variant(init="imagenet")) == expect(test_unknown_init, inits=", ".join(INITS))


@case(
    "Params",
    "weights that do not fit the model (init: lite0 with model: small_cnn)",
    "error: params.yaml: variants.cnn.init: 'lite0' weights fit models tf_efficientnet_lite0 | efficientnet_lite0 "
    "only (got 'small_cnn')",
    "nothing runs (exit 2)",
)
def test_weights_do_not_fit_model(tmp_path):
    assert refused(tmp_path, variant(init="lite0")) == expect(test_weights_do_not_fit_model)


@case(
    "Params",
    "a variant without the `init` key dvc.yaml interpolates",
    "error: params.yaml: variants.cnn: missing required key 'init' (dvc.yaml interpolates it)",
    "nothing runs (exit 2)",
)
def test_variant_missing_required_key(tmp_path):
    error = refused(tmp_path, {"variants": {"cnn": {"data": "prepared"}}})
    assert error == expect(test_variant_missing_required_key)


@case(
    "Params",
    "source local without data.root",
    "error: params.yaml: data.root: source 'local' needs data.root (a directory)",
    "nothing runs (exit 2)",
)
def test_local_source_without_root(tmp_path):
    overrides = {"data": {"dataset": "flower_photos", "source": "local"}}
    assert refused(tmp_path, overrides, "download") == expect(test_local_source_without_root)


@case(
    "Params",
    "training a variant params.yaml does not define (python stages/train.py nope)",
    "error: params.yaml: variants: no variant 'nope'; defined: cnn",
    "nothing runs (exit 2)",
)
def test_unknown_variant_on_command_line(tmp_path):
    assert refused(tmp_path, {}, "train", "nope") == expect(test_unknown_variant_on_command_line)


@case(
    "Params",
    "running a stage outside the project (no params.yaml)",
    "error: params.yaml: params file not found",
    "nothing runs (exit 2)",
)
def test_missing_params_file(tmp_path):
    out = run_stage_here(tmp_path, "prepare")
    assert out.error == expect(test_missing_params_file)
    assert list(tmp_path.iterdir()) == []


@case(
    "Params",
    "a device name torch does not know (base.device: tpu)",
    "error: params.yaml: base.device: expected auto, cpu, cuda, cuda:<N> or mps (got 'tpu')",
    "nothing runs (exit 2)",
)
def test_unknown_device(tmp_path):
    assert refused(tmp_path, {"base": {"device": "tpu"}}) == expect(test_unknown_device)


@case(
    "Params",
    "a YAML syntax error (an unclosed flow mapping)",
    "error: params.yaml: line 3, column 1: expected ',' or '}}', but got '<stream end>'",
    "nothing runs (exit 2)",
)
def test_yaml_syntax_error(tmp_path):
    (tmp_path / "params.yaml").write_text("variants:\n  cnn: {data: prepared, init: none\n")
    out = run_stage_here(tmp_path, "prepare")
    assert out.error == expect(test_yaml_syntax_error)


@case(
    "Params",
    "the same seed twice (variants.cnn.seeds: [0, 0])",
    "error: params.yaml: variants.cnn.seeds: seed 0 is listed twice; each seed is one more run of the variant "
    "(got [0, 0])",
    "nothing runs (exit 2), instead of a second run resuming the first's state and a std of 0 over '2 seeds'",
)
def test_duplicate_seeds(tmp_path):
    assert refused(tmp_path, variant(seeds=[0, 0])) == expect(test_duplicate_seeds)


@case(
    "Params",
    "a negative seed with a few-shot subset (seeds: [-1], train_images: 6)",
    "error: params.yaml: variants.cnn.seeds.0: Input should be greater than or equal to 0 (got -1)",
    "nothing runs (exit 2), instead of a numpy traceback in the train stage",
)
def test_negative_seed(tmp_path):
    assert refused(tmp_path, variant(seeds=[-1], train_images=6)) == expect(test_negative_seed)


@case(
    "Params",
    "a dotted variant name (variants: {cnn.v2: ...})",
    "error: params.yaml: variants.cnn.v2: a variant name is a file name and a params key: letters, digits, '_', "
    "'-' (no '.': DVC would read variants.cnn.v2 as nested keys)",
    "nothing runs (exit 2), instead of DVC's 'Parameters variants.cnn.v2 are missing' after the first stages",
)
def test_dotted_variant_name(tmp_path):
    overrides = {"variants": {"cnn.v2": {"data": "prepared", "init": "none"}}}
    assert refused(tmp_path, overrides, "download") == expect(test_dotted_variant_name)


@case(
    "Params",
    "a mirror URL with a mistyped scheme (data.root: htps://mirror.example/cub/)",
    "error: params.yaml: data.root: unsupported URL scheme 'htps://' for source 'mirror'; expected http://, "
    "https://, file:// or a directory (got 'htps://mirror.example/cub/')",
    "nothing runs (exit 2), not even the download",
)
def test_mistyped_url_scheme(tmp_path):
    overrides = {"data": {"dataset": "cub200", "source": "mirror", "root": "htps://mirror.example/cub/"}}
    assert refused(tmp_path, overrides, "download") == expect(test_mistyped_url_scheme)


@case(
    "Params",
    "a CUDA device on a machine without one (base.device: cuda)",
    "error: params.yaml: base.device: 'cuda' is not available on this machine (torch finds no CUDA device); use "
    "auto or cpu",
    "the FIRST stage (download) stops (exit 2): every stage checks the device at params load, not only the ones "
    "that use it",
)
def test_unavailable_device(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert refused(tmp_path, {"base": {"device": "cuda"}}, "download") == expect(test_unavailable_device)


@case(
    "Params",
    "FINEGRAIN_DEVICE=gpu in the environment",
    "error: FINEGRAIN_DEVICE: expected auto, cpu, cuda, cuda:<N> or mps (got 'gpu')",
    "nothing runs (exit 2), not even the download",
)
def test_bad_device_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("FINEGRAIN_DEVICE", "gpu")
    assert refused(tmp_path, {}, "download") == expect(test_bad_device_environment_variable)


@case(
    "Params",
    "FINEGRAIN_THREADS=two in the environment",
    "error: FINEGRAIN_THREADS: expected a whole number of threads >= 0, 0 = torch's default (got 'two')",
    "nothing runs (exit 2), not even the download",
)
def test_bad_threads_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("FINEGRAIN_THREADS", "two")
    assert refused(tmp_path, {}, "download") == expect(test_bad_threads_environment_variable)


@case(
    "Params",
    "a params.yaml indented with a tab",
    "error: params.yaml: line 3, column 1: found a tab character where YAML expects spaces; indent with spaces",
    "nothing runs (exit 2)",
)
def test_tab_in_params(tmp_path):
    (tmp_path / "params.yaml").write_text("variants:\n  cnn:\n\tdata: prepared\n")
    out = run_stage_here(tmp_path, "prepare")
    assert out.error == expect(test_tab_in_params)


@case(
    "Params",
    "the same key twice in params.yaml (variant cnn defined twice, e.g. after a copy-paste)",
    "error: params.yaml: line 3, column 3: duplicate key 'cnn' (a second value would silently replace the first)",
    "nothing runs (exit 2), as under `dvc repro` (DVC's YAML parser refuses duplicates too), instead of a stage "
    "run by hand silently training the last one",
)
def test_duplicate_key_in_params(tmp_path):
    (tmp_path / "params.yaml").write_text(
        "variants:\n  cnn: {data: prepared, init: none, lr: 0.1}\n  cnn: {data: prepared, init: none, lr: 0.5}\n"
    )
    out = run_stage_here(tmp_path, "prepare")
    assert out.error == expect(test_duplicate_key_in_params)


@case(
    "Params",
    "box crops on a dataset without boxes (data.dataset: imagefolder with crop.mode: gt, or mmdet training its "
    "detector)",
    "error: params.yaml: crop.mode: 'gt' crops to the dataset's boxes and imagefolder has none; set crop.mode: none "
    "(full frames), or mmdet with a trained detector (crop.detector.train: false, checkpoint: ...)",
    "nothing runs (exit 2), instead of gt 'crops' that silently keep every image whole (cropped variants equal to "
    "uncropped ones) or an mmdet crop stage failing after download and prepare",
)
def test_crop_needs_boxes(tmp_path):
    overrides = {"data": {"dataset": "imagefolder", "source": "local", "root": str(tmp_path)}, "crop": {"mode": "gt"}}
    assert refused(tmp_path / "p", overrides, "download") == expect(test_crop_needs_boxes)


@case(
    "Params",
    "fp16 training on a machine without CUDA (variants.cnn.precision: fp16)",
    "error: params.yaml: variants.cnn.precision: fp16 needs a CUDA device (training runs on cpu); use bf16 or fp32",
    "the first stage stops (exit 2), not the train stage after download, prepare and crop",
)
def test_fp16_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert refused(tmp_path, variant(precision="fp16"), "download") == expect(test_fp16_without_cuda)


@case(
    "Params",
    "in a preset project whose dvc.yaml has stage crop off (`finegrain presets apply`), a variant on crops added "
    "(variants.cnn.data: cropped), then dvc repro",
    "error: params.yaml: variants.cnn.data: reads the output of stage crop, which dvc.yaml has off (#off:, written "
    "by `finegrain presets apply` for a preset none of whose variants read it); apply the preset again with this "
    "change (--set), or `git checkout dvc.yaml`",
    "the run stops at the fingerprint stage, before any work (before: DVC's \"failed to reproduce 'train@cnn': "
    "[Errno 2] No such file or directory: '<project>/data/cropped'\" after the upstream stages)",
)
def test_variant_reads_a_stage_the_preset_turned_off(tmp_path):
    from conftest import REPO

    from finegrain.presets.stages import with_stage_set

    (tmp_path / "dvc.yaml").write_text(with_stage_set((REPO / "dvc.yaml").read_text(), {"crop"}))
    write_params(tmp_path, variant(data="cropped"))
    out = run_stage_here(tmp_path, "fingerprint")
    assert out.error == expect(test_variant_reads_a_stage_the_preset_turned_off)
    assert not (tmp_path / "data").exists()


@case(
    "Params",
    "a multi-dataset preset applied to another dataset (finegrain presets apply D --set data.dataset=oxford_pets, "
    "as docs/presets.md runs it on the shared stand-in)",
    "14 of 17 claims are about cub200, stanford_dogs and are left out: this run is on oxford_pets (data.dataset)",
    "a warning from apply and from the report stage, and a line atop claims.md; apply's 'Next:' is `dvc repro "
    "report` (before: the claims vanished without a word, and 'Next:' queued runs on cub200 and stanford_dogs, "
    "not the dataset just set)",
)
def test_preset_on_another_dataset_says_which_claims_are_left_out(tmp_path, capsys):
    import shutil

    from conftest import REPO

    from finegrain.command import main

    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "presets", tmp_path / "presets")
    sets = ["data.dataset=oxford_pets", "data.source=local", f"data.root={tmp_path}"]
    argv = ["finegrain", "presets", "apply", "D", "--scale", "cpu", *[f"--set={s}" for s in sets]]
    out = run_main_here(tmp_path, main, *argv)
    assert (out.code, out.warnings) == (0, [expect(test_preset_on_another_dataset_says_which_claims_are_left_out)])
    assert "dataset oxford_pets. Next: dvc repro report\n" in capsys.readouterr().out


@case(
    "Params",
    "data.root set while the source downloads (data.dataset: flower_photos, source: official, root: <a local "
    "tree>, data.source=local forgotten)",
    "error: params.yaml: data.root: source 'official' does not read data.root (got '{root}'); set data.source: "
    "local (the extracted files there) or mirror (the archives there), or root: null",
    "nothing runs (exit 2), not even the download (before: the root was ignored and the archive fetched from the "
    "internet, or the download failed offline)",
)
def test_root_with_a_source_that_ignores_it(tmp_path):
    overrides = {"data": {"dataset": "flower_photos", "source": "official", "root": str(tmp_path)}}
    error = refused(tmp_path / "p", overrides, "download")
    assert error == expect(test_root_with_a_source_that_ignores_it, root=tmp_path)


@case(
    "Params",
    "a split key the dataset does not read (data.test_fraction: 0.3 with cub200, whose test split is official)",
    "error: params.yaml: data.test_fraction: dataset 'cub200' takes its splits from the official test split, not "
    "data.test_fraction (got 0.3); leave it at 0.15",
    "nothing runs (exit 2); likewise split_seed / val_fraction where the official files decide (flowers102, "
    "cinic10) and data.synthetic for another dataset (before: silently ignored)",
)
def test_split_key_the_dataset_does_not_read(tmp_path):
    overrides = {"data": {"dataset": "cub200", "source": "local", "root": str(tmp_path), "test_fraction": 0.3}}
    error = refused(tmp_path / "p", overrides, "download")
    assert error == expect(test_split_key_the_dataset_does_not_read)


@case(
    "Params",
    "a variant key its other settings never read (variants.cnn.momentum: 0.5 with the default optimizer adamw)",
    "error: params.yaml: variants.cnn.momentum: not read without optimizer: sgd (got 0.5); remove it from the "
    "variant, or set what reads it",
    "nothing runs (exit 2); likewise step_size / gamma / plateau_patience / warmup_epochs without their scheduler, "
    "phase1_epochs / phase2_lr outside two_phase, triplet, pk_k, mix / adv / elastic_net / ema / resize settings "
    "while off, features outside frozen, sync_batchnorm with one process (train/config.py `unread_keys`); a shared "
    "`train` default may serve other variants and is not checked (before: silently ignored)",
)
def test_variant_key_never_read(tmp_path):
    assert refused(tmp_path, variant(momentum=0.5)) == expect(test_variant_key_never_read)
