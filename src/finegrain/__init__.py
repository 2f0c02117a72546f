"""finegrain: a reproducible, cached DVC pipeline for fine-grained image classification experiments."""

__version__ = "0.1.0"
