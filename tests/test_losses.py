"""Losses and accuracy against hand-computed values and torch's cross-entropy."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from warmup_lib.losses import accuracy, get_loss, mse_loss, xent_loss


def test_mse_is_half_mean_over_batch_and_classes():
    output = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # squared errors 0, 4, 9, 9 -> 0.5 * 22 / 4
    assert mse_loss(output, target).item() == pytest.approx(2.75)


def test_mse_on_mixup_soft_labels():
    output = torch.tensor([[0.0, 1.0]])
    target = 0.3 * torch.tensor([[1.0, 0.0]]) + 0.7 * torch.tensor([[0.0, 1.0]])
    assert mse_loss(output, target).item() == pytest.approx(0.5 * (0.09 + 0.09) / 2)


def test_mse_rejects_class_indices():
    with pytest.raises(ValueError, match="target"):
        mse_loss(torch.zeros(3, 4), torch.zeros(3, dtype=torch.int64))


def test_xent_hand_computed():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # softmax = (1/4, 3/4)
    assert xent_loss(logits, torch.tensor([[0.0, 1.0]])).item() == pytest.approx(-math.log(0.75))
    soft = xent_loss(logits, torch.tensor([[0.5, 0.5]])).item()
    assert soft == pytest.approx(-(0.5 * math.log(0.25) + 0.5 * math.log(0.75)))


def test_xent_matches_torch_cross_entropy():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 5, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 5, (7,), generator=generator)
    expected = F.cross_entropy(logits, labels)
    assert torch.allclose(xent_loss(logits, labels), expected)
    assert torch.allclose(xent_loss(logits, F.one_hot(labels, 5).double()), expected)
    tokens = torch.randn(2, 3, 11, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 11, (2, 3), generator=generator)
    assert torch.allclose(xent_loss(tokens, targets), F.cross_entropy(tokens.permute(0, 2, 1), targets))


def test_accuracy_with_int_one_hot_and_soft_targets():
    output = torch.tensor([[2.0, 1.0, 0.0], [0.0, 1.0, 3.0], [0.0, 5.0, 1.0], [1.0, 0.0, 0.0]])
    labels = torch.tensor([0, 2, 0, 1])
    assert accuracy(output, labels).item() == pytest.approx(0.5)
    assert accuracy(output, F.one_hot(labels, 3).float()).item() == pytest.approx(0.5)
    soft = torch.tensor([[0.6, 0.4, 0.0], [0.0, 0.2, 0.8], [0.9, 0.1, 0.0], [0.3, 0.7, 0.0]])
    assert accuracy(output, soft).item() == pytest.approx(0.5)
    tokens = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    assert accuracy(tokens, torch.tensor([[1, 1]])).item() == pytest.approx(0.5)


def test_get_loss():
    assert get_loss("mse") is mse_loss and get_loss("xent") is xent_loss
    with pytest.raises(ValueError, match="'mse', 'xent'"):
        get_loss("hinge")
