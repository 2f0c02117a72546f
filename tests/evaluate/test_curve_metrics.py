"""Curve metrics from a run's per-epoch history: the train-val gap (overfitting) and a two-phase run's step at the
unfreezing (report E's '+15 points after the first unfrozen epoch')."""

from __future__ import annotations

import pytest

from finegrain.evaluate.metrics import phase_boundary, train_val_gap


def test_train_val_gap_is_the_last_epochs():
    assert train_val_gap([0.5, 0.8, 0.95], [0.5, 0.7, 0.75]) == pytest.approx(0.20)
    assert train_val_gap([0.6], [0.7]) == pytest.approx(-0.1)  # val above train (dropout, augmentation): negative


def test_phase_boundary_reads_the_epochs_either_side_of_the_unfreezing():
    val = [0.40, 0.45, 0.47, 0.62, 0.66]  # phase 1: 3 epochs (head only), then all layers
    assert phase_boundary(val, 3) == {"phase1_last_val_acc": 0.47, "phase2_first_val_acc": 0.62}
    assert phase_boundary(val[:3], 3) == {}  # stopped before phase 2
    assert phase_boundary(val, 0) == {}
