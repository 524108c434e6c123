"""Auxiliary blocks: shapes, gradients and the loss values on fixed inputs."""

import math

import pytest
import torch
import torch.nn.functional as F

from spikevim_ros.training.hsm_ssd import HSMSSD
from spikevim_ros.training.losses import LossWeights, info_nce, total_loss
from spikevim_ros.training.shs import SHS, LocationClassifier, classification_loss
from spikevim_ros.training.ssa import SSA, ssa_alignment_loss


def test_block_shapes_and_gradients():
    torch.manual_seed(0)
    fmap = torch.randn(3, 24, 4, 6, requires_grad=True)
    ssa = SSA(24)
    tokens = ssa(fmap.flatten(2), (4, 6))
    assert tokens.shape == (3, 24, 24)
    shs = SHS(24, state_dim=8)
    out = shs(fmap)
    assert out.shape == fmap.shape
    ssd = HSMSSD(24, state_dim=8)
    assert ssd(fmap.flatten(2), (4, 6)).shape == (3, 24, 24)
    logits = LocationClassifier(24, 7)(out.mean((2, 3)))
    assert logits.shape == (3, 7)
    (tokens.sum() + logits.sum()).backward()
    assert fmap.grad.abs().sum() > 0
    assert all(p.grad is not None for p in ssa.parameters())


def test_ssa_and_classification_losses_on_fixed_inputs():
    a = torch.randn(4, 8, 5)
    assert float(ssa_alignment_loss(a, a)) == pytest.approx(0.0, abs=1e-6)
    assert float(ssa_alignment_loss(a, -a)) == pytest.approx(2.0, abs=1e-6)
    zeros = torch.zeros(4, 10)
    labels = torch.tensor([0, 3, 5, 9])
    assert float(classification_loss(zeros, zeros, labels)) == pytest.approx(math.log(10))


def test_info_nce_on_fixed_inputs():
    feats = torch.eye(5)
    scale = torch.tensor(math.log(10.0))
    expected = -math.log(math.exp(10.0) / (math.exp(10.0) + 4.0))
    assert float(info_nce(feats, feats, scale)) == pytest.approx(expected, rel=1e-3)
    shuffled = feats[[1, 2, 3, 4, 0]]
    assert float(info_nce(feats, shuffled, scale)) > 10.0


def test_total_loss_weights_follow_eq_34():
    torch.manual_seed(1)
    desc = F.normalize(torch.randn(4, 16), dim=1)
    view = {'descriptor': desc, 'ssa': torch.randn(4, 16, 9), 'logits': torch.randn(4, 6)}
    other = {'descriptor': F.normalize(desc + 0.1, dim=1), 'ssa': torch.randn(4, 16, 9),
             'logits': torch.randn(4, 6)}
    labels = torch.arange(4)
    total, parts = total_loss(view, other, labels, torch.tensor(2.0), LossWeights(hral_k=3))
    expected = 0.6 * parts['ssa'] + 0.54 * parts['shs'] + parts['hral'] + parts['infonce']
    assert float(total) == pytest.approx(expected, rel=1e-6)
