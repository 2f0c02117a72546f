"""Heads: report E's 3 x 512 dense head with dropout 0.4, and the embedding head a triplet loss reads."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from finegrain.models.heads import DenseHead, EmbeddingHead, replace_head


def test_dense_head_layers():
    head = DenseHead(64, 10)
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 512), (512, 512), (512, 512), (512, 10)]
    assert isinstance(head.hidden[-1], nn.Dropout) and head.hidden[-1].p == 0.4
    assert head(torch.rand(3, 64)).shape == (3, 10)


def test_embedding_head_stores_unit_embedding_and_classifies_it():
    torch.manual_seed(0)
    head = EmbeddingHead(32, 5, embedding_dim=16)
    logits = head(torch.randn(4, 32))
    assert logits.shape == (4, 5) and head.embedding.shape == (4, 16)
    torch.testing.assert_close(head.embedding.norm(dim=1), torch.ones(4))
    torch.testing.assert_close(logits, head.fc(head.embedding))


def test_replace_head_swaps_vgg19_classifier_for_the_dense_head():
    net = torchvision.models.vgg19(num_classes=10)
    assert replace_head(net, DenseHead) == "classifier"  # the 4096-wide layers go too
    assert isinstance(net.classifier, DenseHead) and net.classifier.hidden[0].in_features == 512 * 7 * 7
    with torch.no_grad():
        assert net.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 10)


def test_replace_head_on_resnet_and_on_a_head_with_other_layers():
    net = torchvision.models.resnet18(num_classes=6)
    assert replace_head(net, EmbeddingHead) == "fc"
    assert (net.fc.project.in_features, net.fc.fc.out_features) == (512, 6)
    net = nn.Sequential(nn.Flatten(), nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 3)))
    assert replace_head(net, lambda c_in, n: nn.Linear(c_in, n + 1)) == "1.1"  # LayerNorm stays
    assert isinstance(net[1][0], nn.LayerNorm) and net[1][1].out_features == 4
