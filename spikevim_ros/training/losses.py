"""The SpikeViMFormer objective: Total = w1 L1 (SSA) + w2 L2 (SHS) + L3 (HRAL + InfoNCE)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from spikevim_ros.training.distributed import gather_with_grad, rank
from spikevim_ros.training.hral import hral_losses
from spikevim_ros.training.shs import classification_loss
from spikevim_ros.training.ssa import ssa_alignment_loss


def info_nce(drone: torch.Tensor, satellite: torch.Tensor, logit_scale: torch.Tensor
             ) -> torch.Tensor:
    """
    Symmetric InfoNCE between matching drone and satellite descriptors.

    Negatives are the other items of the batch on all ranks (gathered with gradient).
    """
    all_drone, all_sat = gather_with_grad(drone), gather_with_grad(satellite)
    offset = rank() * drone.shape[0]
    targets = torch.arange(drone.shape[0], device=drone.device) + offset
    scale = logit_scale.exp().clamp(max=100.0)
    return 0.5 * (F.cross_entropy(scale * drone @ all_sat.T, targets)
                  + F.cross_entropy(scale * satellite @ all_drone.T, targets))


@dataclass(frozen=True)
class LossWeights:
    """Weights of Eq. 34 and the HRAL settings."""

    ssa: float = 0.6
    shs: float = 0.54
    hral: float = 1.0
    infonce: float = 1.0
    hral_k: int = 15
    hral_alpha: float = 0.7
    hral_temperature: float = 0.1


def total_loss(drone: dict[str, torch.Tensor], satellite: dict[str, torch.Tensor],
               labels: torch.Tensor, logit_scale: torch.Tensor, weights: LossWeights,
               memory: tuple[torch.Tensor, torch.Tensor] | None = None
               ) -> tuple[torch.Tensor, dict[str, float]]:
    """Return the total loss and its named parts (floats, for logging)."""
    parts = {'ssa': ssa_alignment_loss(drone['ssa'], satellite['ssa']),
             'shs': classification_loss(drone['logits'], satellite['logits'], labels),
             'infonce': info_nce(drone['descriptor'], satellite['descriptor'], logit_scale)}
    mem_q, mem_g = memory if memory is not None else (None, None)
    hral = hral_losses(drone['descriptor'], satellite['descriptor'], mem_q, mem_g,
                       weights.hral_k, weights.hral_alpha, weights.hral_temperature)
    parts['hral'] = sum(hral.values())
    total = (weights.ssa * parts['ssa'] + weights.shs * parts['shs']
             + weights.hral * parts['hral'] + weights.infonce * parts['infonce'])
    log = {name: float(value.detach()) for name, value in parts.items()}
    log.update({f'hral_{name}': float(value.detach()) for name, value in hral.items()})
    log['total'] = float(total.detach())
    return total, log
