"""
SSA: the spiking self-attention-like gating block of SpikeViMFormer (Eq. 8-18).

Works on backbone tokens [B, C, L] laid out on a square-or-not grid of ``L = height * width``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spikevim_ros.encoder.neuron import MultiSpike


def _grid(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Reshape [B, L, C] tokens to a [B, C, H, W] map."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, *grid)


def _tokens(fmap: torch.Tensor) -> torch.Tensor:
    """Reshape a [B, C, H, W] map to [B, L, C] tokens."""
    return fmap.flatten(2).transpose(1, 2)


class SpikeMLP(nn.Module):
    """Two linear layers, each fed by spikes."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(MultiSpike(), nn.Linear(dim, hidden), MultiSpike(),
                                 nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SSA(nn.Module):
    """Spike-gated selective attention over backbone tokens (paper Eq. 8-18)."""

    def __init__(self, dim: int, mlp_ratio: int = 2) -> None:
        super().__init__()
        self.cpe = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm_in = nn.LayerNorm(dim)
        self.in_proj = nn.Linear(dim, dim)
        self.in_dw = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.spike = MultiSpike()
        self.w_a = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.q_gate_proj = nn.Linear(dim, dim)
        self.q_gate_dw = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.w_b = nn.Linear(dim, dim)
        self.norm_q = nn.LayerNorm(dim)
        self.w_c = nn.Linear(dim, dim)
        self.res_dw = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = SpikeMLP(dim, mlp_ratio * dim)

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """Map tokens [B, C, L] on ``grid`` (height, width) to refined tokens [B, C, L]."""
        x = tokens.transpose(1, 2)                                        # [B, L, C]
        x = x + _tokens(self.cpe(_grid(x, grid)))                          # Eq. 8
        f = self.in_proj(self.norm_in(x))
        f = self.spike(_tokens(self.in_dw(_grid(f, grid))))                # Eq. 9
        gate_a = self.spike(self.w_a(f))                                   # Eq. 10
        q = self.q_proj(f)                                                 # Eq. 11
        q_spk = self.spike(_tokens(self.q_gate_dw(_grid(self.q_gate_proj(f), grid))))  # Eq. 12
        gate_g = self.spike(self.w_b(q_spk))                               # Eq. 13
        q2 = self.norm_q(q * gate_g)                                       # Eq. 14
        q3 = self.w_c(self.spike(q2) * gate_a + q2)                        # Eq. 15
        x = x + q3                                                         # Eq. 16
        x = x + _tokens(self.res_dw(_grid(x, grid)))                       # Eq. 17
        x = x + self.mlp(self.norm_mlp(x))                                 # Eq. 18
        return x.transpose(1, 2)


def ssa_alignment_loss(drone_tokens: torch.Tensor, satellite_tokens: torch.Tensor
                       ) -> torch.Tensor:
    """L1 = mean(1 - cos(pooled drone SSA feature, pooled satellite SSA feature))."""
    return (1.0 - F.cosine_similarity(drone_tokens.mean(2), satellite_tokens.mean(2),
                                      dim=1)).mean()
