"""Model and modification names: all that params validation needs to know of the models.

Kept apart from the builders (finegrain.models.factory, .mods) so that validating params does not make every stage
depend on how a model is built.
"""

from __future__ import annotations

OWN_MODELS = ("small_cnn", "small_resnet")
"""finegrain's own architectures (built by finegrain.models.factory); any torchvision or timm name works too."""

MOD_NAMES = ("bottleneck", "se", "deform", "eca", "dense_head", "embedding_head")
"""Architecture modifications (finegrain.models.mods), in their order of application."""


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
