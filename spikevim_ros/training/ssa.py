"""
SSA: the spiking self-attention-like gating block of SpikeViMFormer (Eq. 8-18).

Works on backbone tokens [B, C, L] laid out on a square-or-not grid of ``L = height * width``.
Eq. 17-18 (local mixing and MLP) come in two forms, see :data:`SSA_FORMS`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spikevim_ros.encoder.neuron import MultiSpike
from spikevim_ros.training.shs import SFFN, SpikeDWConv

# paper: Eq. 17 F + DWConv(SN(F)), Eq. 18 F + BN(Conv(SN(BN(Conv(SN(F)))))), spike-driven;
# mlla: F + DWConv(F), F + MLP(LayerNorm(F)), the MLLA block layout SSA is derived from.
SSA_FORMS = ('paper', 'mlla')


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


class SSATail(nn.Module):
    """Eq. 17-18 of SSA on a [B, C, H, W] map, in the ``paper`` or ``mlla`` form."""

    def __init__(self, dim: int, mlp_ratio: int = 4, form: str = 'paper') -> None:
        super().__init__()
        if form not in SSA_FORMS:
            raise ValueError(f'SSA form must be one of {SSA_FORMS}, got {form!r}')
        self.form = form
        if form == 'paper':
            self.local = SpikeDWConv(dim)
            self.mlp = SFFN(dim, mlp_ratio)
        else:
            self.local = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
            self.norm = nn.LayerNorm(dim)
            self.mlp = SpikeMLP(dim, mlp_ratio * dim)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        """Map [B, C, H, W] to [B, C, H, W]."""
        fmap = fmap + self.local(fmap)                                     # Eq. 17
        if self.form == 'paper':
            return fmap + self.mlp(fmap)                                   # Eq. 18
        x = _tokens(fmap)
        return _grid(x + self.mlp(self.norm(x)), fmap.shape[-2:])          # Eq. 18


class SSA(nn.Module):
    """Spike-gated selective attention over backbone tokens (paper Eq. 8-18)."""

    def __init__(self, dim: int, mlp_ratio: int = 4, form: str = 'paper') -> None:
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
        self.tail = SSATail(dim, mlp_ratio, form)

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
        return self.tail(_grid(x, grid)).flatten(2)                        # Eq. 17-18


def ssa_alignment_loss(drone_tokens: torch.Tensor, satellite_tokens: torch.Tensor
                       ) -> torch.Tensor:
    """L1 = mean(1 - cos(pooled drone SSA feature, pooled satellite SSA feature))."""
    return (1.0 - F.cosine_similarity(drone_tokens.mean(2), satellite_tokens.mean(2),
                                      dim=1)).mean()
