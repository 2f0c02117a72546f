"""Model, modification and initial-weights names: all that params validation needs to know of the models.

Kept apart from the builders (finegrain.models.factory, .mods) so that validating params does not make every stage
depend on how a model is built.
"""

from __future__ import annotations

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
    """True for finegrain's own models, torchvision classification models and timm models."""
    if name in OWN_MODELS or name in torchvision_names():
        return True
    import timm

    return timm.is_model(name)


def known_model(v: str) -> str:
    """Validator: a model name create_model can build (finegrain's own, torchvision or timm)."""
    if not is_known_model(v):
        raise ValueError(f"unknown model {v!r}; expected small_cnn or a torchvision/timm model name")
    return v
