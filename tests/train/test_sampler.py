"""train.sampler: class-balanced P×K batches for the triplet losses; the shuffled loader unchanged for the others."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset, TensorDataset

from finegrain.data.transformed import Transformed
from finegrain.errors import ConfigError
from finegrain.train.config import TrainCfg
from finegrain.train.distributed import SINGLE, Dist
from finegrain.train.loop import _train_loader
from finegrain.train.sampler import PKBatchSampler, class_labels

# 12 classes: sizes 1..12 (a single-image class, several smaller than K), 78 images, shuffled order
LABELS = np.random.default_rng(0).permutation(np.repeat(np.arange(12), np.arange(1, 13)))
TCEL = {"data": "prepared", "init": "none", "loss": "tcel", "mods": {"embedding_head": True}, "batch_size": 16}


def _batches(sampler) -> list[list[int]]:
    return [list(b) for b in sampler]


@pytest.mark.parametrize("k", [2, 4])
def test_every_class_in_a_batch_has_k_images_and_distinct_ones_when_it_can(k):
    sampler = PKBatchSampler(LABELS, 16, k, seed=7)
    batches = _batches(sampler)
    assert len(batches) == len(sampler) == len(LABELS) // 16
    sizes = Counter(LABELS.tolist())
    for batch in batches:
        assert len(batch) == 16
        per_class = Counter(LABELS[batch].tolist())
        assert len(per_class) == 16 // k and set(per_class.values()) == {k}
        for c in per_class:
            distinct = len({i for i in batch if LABELS[i] == c})
            assert distinct == min(k, sizes[c])  # >= 2 distinct images whenever the class has 2


def test_a_class_cycles_through_its_images():
    labels = np.repeat(np.arange(6), 8)
    seen = Counter(i for b in _batches(PKBatchSampler(labels, 8, 4, seed=1)) for i in b)
    for c in range(6):
        counts = [seen.get(i, 0) for i in np.flatnonzero(labels == c)]
        assert max(counts) - min(counts) <= 1  # every image once before any twice


def test_batches_are_fixed_by_the_seed():
    assert _batches(PKBatchSampler(LABELS, 16, 4, seed=3)) == _batches(PKBatchSampler(LABELS, 16, 4, seed=3))
    assert _batches(PKBatchSampler(LABELS, 16, 4, seed=3)) != _batches(PKBatchSampler(LABELS, 16, 4, seed=4))
    state = torch.get_rng_state()
    _batches(PKBatchSampler(LABELS, 16, 4, seed=3))
    assert torch.equal(state, torch.get_rng_state())  # its own generator: the global RNG is untouched


def test_ddp_ranks_take_whole_classes_of_the_single_process_batch():
    single = _batches(PKBatchSampler(LABELS, 16, 2, seed=5))
    ranks = [_batches(PKBatchSampler(LABELS, 16, 2, seed=5, dist=Dist(r, 2, r))) for r in range(2)]
    for step, batch in enumerate(single):
        assert sorted(ranks[0][step] + ranks[1][step]) == sorted(batch)
        for share in (ranks[0][step], ranks[1][step]):
            assert len(share) == 8 and set(Counter(LABELS[share].tolist()).values()) == {2}
    with pytest.raises(ConfigError, match="divisible"):
        PKBatchSampler(LABELS, 12, 4, seed=0, dist=Dist(0, 2, 0))  # P = 3 classes on 2 processes


def test_fewer_classes_than_p_and_too_few_classes():
    labels = np.repeat([0, 1, 2], 10)
    batches = _batches(PKBatchSampler(labels, 32, 4, seed=0))
    assert len(batches) == 1 and len(batches[0]) == 12  # all 3 classes x 4
    with pytest.raises(ConfigError, match="at least 2 classes"):
        PKBatchSampler(np.zeros(30, dtype=int), 16, 4, seed=0)


def test_class_labels_reads_through_wrappers_without_loading_images():
    data = TensorDataset(torch.zeros(len(LABELS), 1), torch.as_tensor(LABELS))
    assert np.array_equal(class_labels(data), LABELS)
    assert np.array_equal(class_labels(Transformed(Subset(data, [3, 1]), lambda x: x)), LABELS[[3, 1]])
    with pytest.raises(ConfigError, match="sampler: random"):
        class_labels(TensorDataset(torch.zeros(3)))


def test_pk_is_the_default_for_triplet_losses_only():
    assert TrainCfg(**TCEL).batch_sampler == "pk"
    assert TrainCfg(**{**TCEL, "loss": "triplet"}).batch_sampler == "pk"
    assert TrainCfg(**{**TCEL, "sampler": "random"}).batch_sampler == "random"
    assert TrainCfg(data="prepared", init="none").batch_sampler == "random"
    assert TrainCfg(data="prepared", init="none", sampler="pk").batch_sampler == "pk"
    with pytest.raises(ValueError, match="multiple of pk_k"):
        TrainCfg(**{**TCEL, "batch_size": 6})
    with pytest.raises(ValueError, match="divide by nproc"):
        TrainCfg(**{**TCEL, "batch_size": 12, "nproc": 2})
    TrainCfg(data="prepared", init="none", batch_size=6)  # the shuffled default has no such constraint


def test_train_loader_uses_pk_for_tcel_and_the_unchanged_shuffle_otherwise():
    data = TensorDataset(torch.arange(len(LABELS)), torch.as_tensor(LABELS))
    pk = [b[0].tolist() for b in _train_loader(data, TrainCfg(**TCEL), 11, SINGLE)]
    assert pk == _batches(PKBatchSampler(LABELS, 16, 4, seed=11))
    ce = TrainCfg(data="prepared", init="none", batch_size=16)
    state = torch.get_rng_state()
    got = [b[0].tolist() for b in _train_loader(data, ce, 11, SINGLE)]
    gen = torch.Generator().manual_seed(11)
    expected = [b[0].tolist() for b in DataLoader(data, 16, shuffle=True, generator=gen, drop_last=True)]
    assert got == expected and torch.equal(state, torch.get_rng_state())


def test_train_loader_under_ddp_gives_each_process_whole_classes():
    data = TensorDataset(torch.arange(len(LABELS)), torch.as_tensor(LABELS))
    single = [b[0].tolist() for b in _train_loader(data, TrainCfg(**TCEL), 2, SINGLE)]
    shares = [[b[0].tolist() for b in _train_loader(data, TrainCfg(**TCEL), 2, Dist(r, 2, r))] for r in range(2)]
    for step, batch in enumerate(single):
        assert sorted(shares[0][step] + shares[1][step]) == sorted(batch)
        assert all(len(Counter(LABELS[s[step]].tolist())) == 2 for s in shares)  # 2 of the 4 classes each
