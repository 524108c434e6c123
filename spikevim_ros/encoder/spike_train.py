"""
Binary spike-train view of the integer-spike network.

An integer activation ``k`` in ``{0..D}`` is ``k`` binary spikes over ``D`` sub-steps
(``s_d = [k > d]``). Every spike-driven layer is linear in its input, so feeding the ``D``
binary planes one by one and summing (additions only: a binary input selects weights) gives
exactly the integer result. :func:`spike_train_network` rebuilds a fused backbone that way.
"""

import copy

import torch
from torch import nn

from .fast import FusedAttention, FusedBackbone, IntSpike


def to_spike_train(counts: torch.Tensor, levels: int) -> torch.Tensor:
    """Return binary spikes ``[D, *counts.shape]`` with ``sum_d s_d == counts``."""
    steps = torch.arange(levels, device=counts.device, dtype=counts.dtype)
    return (counts.unsqueeze(0) > steps.view(-1, *([1] * counts.dim()))).to(counts.dtype)


class SpikeTrainConv(nn.Module):
    """Conv fed sub-step by sub-step with binary spikes; bias added once per timestep."""

    def __init__(self, conv: nn.Conv2d, levels: int) -> None:
        super().__init__()
        self.conv = conv
        self.levels = levels

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        out = None
        for plane in to_spike_train(counts, self.levels):
            step = self.conv._conv_forward(plane, self.conv.weight, None)
            out = step if out is None else out + step
        return out + self.conv.bias.view(1, -1, 1, 1)


class SpikeTrainAttention(FusedAttention):
    """Attention whose Q, K, V products are accumulated over binary sub-step pairs."""

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        levels = self.spike.levels
        qs, ks, vs = (to_spike_train(t, levels) for t in (q, k, v))
        kv = sum(ks[i].transpose(-2, -1) @ vs[j] for i in range(levels) for j in range(levels))
        return sum(qs[i] @ kv for i in range(levels))


def spike_train_network(fused: FusedBackbone) -> FusedBackbone:
    """Return a copy of ``fused`` where every spike-fed layer consumes binary spike trains."""
    net = copy.deepcopy(fused)
    for module in list(net.modules()):
        if isinstance(module, FusedAttention):
            module.__class__ = SpikeTrainAttention
            module.qkv = SpikeTrainConv(module.qkv, module.spike.levels)
            module.proj = SpikeTrainConv(module.proj, module.spike.levels)
        if isinstance(module, nn.Sequential):
            for i in range(1, len(module)):
                if isinstance(module[i], nn.Conv2d) and isinstance(module[i - 1], IntSpike):
                    module[i] = SpikeTrainConv(module[i], module[i - 1].levels)
    return net
