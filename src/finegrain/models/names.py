"""Model, modification and initial-weights names: all that params validation needs to know of the models.

Kept apart from the builders (finegrain.models.factory, .mods) so that validating params does not make every stage
depend on how a model is built.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

OWN_MODELS = ("small_cnn", "small_resnet")
"""finegrain's own architectures (built by finegrain.models.factory); any torchvision or timm name works too."""

MOD_NAMES = ("bottleneck", "se", "deform", "eca", "dense_head", "embedding_head")
"""Architecture modifications (finegrain.models.mods), in their order of application."""

INITS = ("none", "hub", "lite0", "lite1", "lite2", "simclr")
"""Initial weights a variant can start from (each is a directory data/weights/<init>)."""

LITE_MODELS = {f"lite{n}": (f"tf_efficientnet_lite{n}", f"efficientnet_lite{n}") for n in range(3)}
"""Models each offline `liteN` ImageNet init fits: tf_ (TF 'SAME' padding) reproduces the original logits exactly."""


def torchvision_names() -> set[str]:
    """torchvision's classification model names."""
    import torchvision

    return set(torchvision.models.list_models(module=torchvision.models))


def is_known_model(name: str) -> bool:
    """True for finegrain's own models, torchvision classification models and timm models.

    A name found is remembered per torchvision and timm version (`known_models_cache`), so validating params that
    name e.g. a timm model does not import torchvision and timm again (seconds) in every stage that only checks them.
    """
    if name in OWN_MODELS:
        return True
    cache, libraries = known_models_cache(), _library_versions()
    try:
        remembered = json.loads(cache.read_text()) if cache.is_file() else {}
    except (OSError, ValueError):
        remembered = {}
    if not isinstance(remembered, dict) or remembered.get("libraries") != libraries:
        remembered = {"libraries": libraries, "known": []}
    if name in remembered["known"]:
        return True
    if name not in torchvision_names():
        import timm

        if not timm.is_model(name):
            return False
    _remember(cache, {**remembered, "known": sorted({*remembered["known"], name})})
    return True


def known_models_cache() -> Path:
    """~/.cache/finegrain/known_models.json (`$XDG_CACHE_HOME` honoured): model names found, per library versions."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "finegrain" / "known_models.json"


def _library_versions() -> str:
    found = []
    for package in ("torchvision", "timm"):
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            found.append(f"{package} none")
    return ", ".join(found)


def _remember(cache: Path, record: dict) -> None:
    """Write the cache atomically; a read-only home only costs the next check its imports."""
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(record))
        os.replace(tmp, cache)
    except OSError:
        tmp.unlink(missing_ok=True)


def known_model(v: str) -> str:
    """Validator: a model name create_model can build (finegrain's own, torchvision or timm)."""
    if not is_known_model(v):
        raise ValueError(f"unknown model {v!r}; expected small_cnn or a torchvision/timm model name")
    return v
