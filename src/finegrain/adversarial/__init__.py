"""Adversarial examples in pixel space: FGSM and PGD, for adversarial training and the robustness curve."""
