"""Adversarial examples in pixel space: attacks for adversarial training (torchattacks) and their primitives."""
