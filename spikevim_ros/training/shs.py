"""SHS: the spiking hidden-state block of SpikeViMFormer (Eq. 20-23) and its classifier."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spikevim_ros.encoder.neuron import MultiSpike
from spikevim_ros.training.hsm_ssd import HSMSSD


class SpikeDWConv(nn.Module):
    """Residual branch DWConv(SN(F)) on a [B, C, H, W] map."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.spike = MultiSpike()
        self.dw = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dw(self.spike(x))


class SFFN(nn.Module):
    """Spiking feed-forward network: two spike-fed 1x1 convs, each with BatchNorm (Eq. 18, 23)."""

    def __init__(self, dim: int, ratio: int = 2) -> None:
        super().__init__()
        hidden = ratio * dim
        self.net = nn.Sequential(MultiSpike(), nn.Conv2d(dim, hidden, 1), nn.BatchNorm2d(hidden),
                                 MultiSpike(), nn.Conv2d(hidden, dim, 1), nn.BatchNorm2d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SHS(nn.Module):
    """
    Spiking hidden-state block on the backbone map [B, C, H, W] (Eq. 20-23).

    Eq. 21 replaces the map by HSM-SSD(LN(F)): neither the paper nor the authors add a
    residual around the state-space mixer (Eq. 20, 22 and 23 are residual).
    """

    def __init__(self, dim: int, state_dim: int = 64) -> None:
        super().__init__()
        self.local_1 = SpikeDWConv(dim)
        self.norm = nn.LayerNorm(dim)
        self.ssd = HSMSSD(dim, state_dim)
        self.local_2 = SpikeDWConv(dim)
        self.ffn = SFFN(dim)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        """Map [B, C, H, W] to [B, C, H, W]."""
        fmap = fmap + self.local_1(fmap)                                   # Eq. 20
        grid = fmap.shape[-2:]
        seq = self.norm(fmap.flatten(2).transpose(1, 2)).transpose(1, 2)
        fmap = self.ssd(seq, tuple(grid)).view_as(fmap)                    # Eq. 21, no residual
        fmap = fmap + self.local_2(fmap)                                   # Eq. 22
        return fmap + self.ffn(fmap)                                       # Eq. 23


class LocationClassifier(nn.Module):
    """Spike, Linear 512, BatchNorm, Dropout 0.5, Linear to the number of locations."""

    def __init__(self, dim: int, num_classes: int, hidden: int = 512,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.net = nn.Sequential(MultiSpike(), nn.Linear(dim, hidden), nn.BatchNorm1d(hidden),
                                 nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)


def classification_loss(drone_logits: torch.Tensor, satellite_logits: torch.Tensor,
                        labels: torch.Tensor) -> torch.Tensor:
    """L2 = cross-entropy averaged over the drone and satellite views."""
    return 0.5 * (F.cross_entropy(drone_logits, labels)
                  + F.cross_entropy(satellite_logits, labels))
