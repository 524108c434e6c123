"""
HSM-SSD: the hidden-state mixer state-space block of EfficientViM, spike-driven.

The sequence ``x`` [B, D, L] is spiked, projected to per-token (B, C, dt) of the state size,
the tokens are mixed into ``state_dim`` hidden states with softmax(dt + A) weights, the hidden
states are mixed by a gated projection (a spike gate replaces EfficientViM's SiLU) and are
broadcast back to the tokens through C.
"""

from __future__ import annotations

import torch
from torch import nn

from spikevim_ros.encoder.neuron import MultiSpike


class HSMSSD(nn.Module):
    """Spike-driven hidden-state mixer SSD on a ``height x width`` token grid."""

    def __init__(self, dim: int, state_dim: int = 64, expand: int = 1,
                 a_init_range: tuple[float, float] = (1.0, 16.0)) -> None:
        super().__init__()
        self.state_dim = state_dim
        self.inner = int(expand * dim)
        self.spike_in = MultiSpike()
        self.bcdt_proj = nn.Conv1d(dim, 3 * state_dim, 1)
        self.bcdt_dw = nn.Conv2d(3 * state_dim, 3 * state_dim, 3, padding=1,
                                 groups=3 * state_dim)
        self.hz_proj = nn.Conv1d(dim, 2 * self.inner, 1)
        self.gate_spike = MultiSpike()
        self.out_proj = nn.Conv1d(self.inner, dim, 1)
        self.a_log = nn.Parameter(torch.empty(state_dim).uniform_(*a_init_range))
        self.skip = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """Map ``x`` [B, D, L] (L = height * width) to [B, D, L]."""
        batch, _, length = x.shape
        x = self.spike_in(x)
        bcdt = self.bcdt_proj(x).view(batch, -1, *grid)
        bcdt = self.bcdt_dw(bcdt).flatten(2)
        b_in, c_out, dt = torch.split(bcdt, self.state_dim, dim=1)
        mix = (dt + self.a_log.view(1, -1, 1)).softmax(-1)          # [B, S, L]
        hidden = x @ (mix * b_in).transpose(1, 2)                     # [B, D, S]
        h, z = torch.split(self.hz_proj(hidden), self.inner, dim=1)
        hidden = self.out_proj(h * self.gate_spike(z) + h * self.skip)
        return hidden @ c_out                                         # [B, D, L]
