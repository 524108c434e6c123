"""Hand-computed small cases pinning the paper equations and settings (SSA, SHS, Eq. 37, lr)."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from spikevim_ros.encoder.energy import snn_energy_mj, synaptic_ops
from spikevim_ros.training.augment import PairAugment
from spikevim_ros.training.config import TrainConfig, scheduled_lr
from spikevim_ros.training.shs import SHS
from spikevim_ros.training.ssa import SSA, SSATail

X = torch.tensor([-1.0, 0.3, 1.0, 2.6]).view(1, 1, 1, 4)     # one channel on a 1 x 4 grid


def _centre_only(conv: nn.Conv2d) -> None:
    """Make a 3x3 depth-wise conv the identity."""
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, :, 1, 1] = 1.0
        conv.bias.zero_()


def _set_1x1(conv, weight: float, bias: float) -> None:
    with torch.no_grad():
        conv.weight.fill_(weight)
        conv.bias.fill_(bias)


def test_ssa_eq17_18_paper_form_by_hand():
    tail = SSATail(1, mlp_ratio=1, form='paper').eval()    # BN eval: identity (eps aside)
    _centre_only(tail.local.dw)
    conv1, conv2 = tail.mlp.net[1], tail.mlp.net[4]
    _set_1x1(conv1, 3.0, 0.0)
    _set_1x1(conv2, 1.0, 0.5)
    # Eq. 17: SN(x) = round(clip(x, 0, 4)) / 4 = [0, 0, .25, .75] -> x1 = [-1, .3, 1.25, 3.35]
    # Eq. 18: SN(x1) = [0, 0, .25, .75]; x3 -> [0, 0, .75, 2.25]; SN -> [0, 0, .25, .5];
    #         x1 + 0.5 -> [.5, .5, .75, 1]; x2 = [-.5, .8, 2, 4.35]
    with torch.no_grad():
        out = tail(X)
    assert out.flatten().tolist() == pytest.approx([-0.5, 0.8, 2.0, 4.35], abs=1e-4)


def test_ssa_eq17_18_mlla_form_by_hand():
    tail = SSATail(1, mlp_ratio=1, form='mlla').eval()
    _centre_only(tail.local)
    with torch.no_grad():
        tail.norm.bias.fill_(2.2)          # LayerNorm of one channel is its bias
    _set_1x1(tail.mlp.net[1], 3.0, 0.0)
    _set_1x1(tail.mlp.net[3], 1.0, 0.1)
    # Eq. 17: x1 = x + x = 2x; Eq. 18: SN(2.2) = .5 -> 1.5 -> SN = .5 -> .6; x2 = 2x + .6
    with torch.no_grad():
        out = tail(X)
    expected = (2 * X + 0.6).flatten().tolist()
    assert out.flatten().tolist() == pytest.approx(expected, abs=1e-5)


def test_ssa_default_is_the_paper_form_with_mlp_ratio_4():
    ssa = SSA(8)
    assert ssa.tail.form == 'paper'
    assert ssa.tail.mlp.net[1].out_channels == 32
    assert isinstance(ssa.tail.mlp.net[2], nn.BatchNorm2d)
    with pytest.raises(ValueError, match='SSA form'):
        SSA(8, form='authors?')


def test_shs_eq21_has_no_residual_around_hsm_ssd():
    shs = SHS(4, state_dim=2).eval()
    with torch.no_grad():
        shs.ssd.out_proj.weight.zero_()    # HSM-SSD now outputs 0 ...
        shs.ssd.out_proj.bias.zero_()
        shs.local_2.dw.bias.zero_()
        for layer in shs.ffn.net:
            if isinstance(layer, nn.Conv2d):
                layer.bias.zero_()
    fmap = torch.randn(2, 4, 3, 3) + 1.0
    with torch.no_grad():
        out = shs(fmap)
    # ... so Eq. 21 gives F = 0, Eq. 22 gives 0 + DWConv(SN(0)) = 0, Eq. 23 0 + SFFN(0) = 0;
    # a residual around HSM-SSD would carry F + DWConv(SN(F)) through instead.
    assert torch.equal(out, torch.zeros_like(out))


def test_energy_eq37_uses_the_fraction_of_nonzero_activations():
    layers = [{'macs': 1e6, 'rate_nonzero': 0.0, 'spike_input': False},
              {'macs': 2e6, 'rate_nonzero': 0.5, 'spike_input': True},
              {'macs': 4e6, 'rate_nonzero': 0.25, 'spike_input': True}]
    # SOPs = 0.5 * 2e6 + 0.25 * 4e6 = 2e6; E = 4.6 pJ * 1e6 + 0.9 pJ * 2e6 = 6.4e6 pJ
    assert synaptic_ops(layers) == pytest.approx(2e6)
    assert snn_energy_mj(1e6, synaptic_ops(layers)) == pytest.approx(6.4e-3)


def test_cosine_schedule_with_warmup_by_hand():
    lrs = [scheduled_lr(s, 10, 2, 1.0, 0.0, 'cosine') for s in (0, 1, 2, 6, 10)]
    # warmup (s + 1) / 2; then (1 + cos(pi (s - 2) / 8)) / 2: 1 at s = 2, 0.5 at 6, 0 at 10
    assert lrs == pytest.approx([0.5, 1.0, 1.0, 0.5, 0.0])
    assert scheduled_lr(7, 10, 2, 1e-3, schedule='constant') == 1e-3


def test_global_batch_is_split_over_processes():
    assert TrainConfig(batch_size=64, batch_scope='global').per_process_batch(8) == 8
    assert TrainConfig(batch_size=64).per_process_batch(8) == 64
    with pytest.raises(ValueError, match='does not split'):
        TrainConfig(batch_size=64, batch_scope='global').per_process_batch(3)


def test_pair_augmentation_keeps_the_pair_aligned():
    drone = np.zeros((4, 6, 3), np.uint8)
    drone[0, 0] = 255                                    # a marker in the top-left corner
    satellite = drone[:, :4].copy()
    flip_only = PairAugment(jpeg=0, jitter=0, blur_or_sharpen=0, dropout=0, flip=1.0,
                            rotate_satellite=0)
    d, s = flip_only(drone, satellite, np.random.default_rng(0))
    assert d[0, 5, 0] == 255 and s[0, 3, 0] == 255       # both views flipped together
    rotate_only = replace(flip_only, flip=0.0, rotate_satellite=1.0)
    d, s = rotate_only(drone, satellite, np.random.default_rng(0))
    assert np.array_equal(d, drone) and not np.array_equal(s, satellite)
    assert sorted(s[:, :, 0].ravel().tolist()) == sorted(satellite[:, :, 0].ravel().tolist())
