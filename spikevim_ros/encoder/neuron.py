"""
Normalised-integer LIF (NI-LIF) spiking neuron.

With ``T`` timesteps and ``D`` integer levels the neuron computes, per step::

    U[t] = H[t-1] + X[t]
    S[t] = clip(round(U[t]), 0, D) / D
    H[t] = beta * (U[t] - S[t] * D)

With the default ``T=1, D=4`` this is exactly ``s = round(clip(x, 0, 4)) / 4``. The integer
spike count ``k = S * D`` in ``{0..D}`` can be replayed as ``k`` binary spikes over ``D``
sub-steps (see :mod:`spikevim_ros.encoder.spike_train`).
"""

import torch
from torch import nn


class _RoundClipSTE(torch.autograd.Function):
    """Round-and-clip to ``{0..D}`` with a straight-through gradient inside ``[0, D]``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, levels: int) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.levels = levels
        return torch.round(torch.clamp(x, 0, levels))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        inside = (x >= 0) & (x <= ctx.levels)
        return grad * inside.to(grad.dtype), None


def integer_spikes(x: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """Return the integer spike count ``round(clip(x, 0, levels))`` (STE when training)."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _RoundClipSTE.apply(x, levels)
    return torch.round(torch.clamp(x, 0, levels))


class MultiSpike(nn.Module):
    """
    NI-LIF neuron emitting normalised spikes ``k / D``.

    Inputs with ``T > 1`` are time-major along the batch axis: ``[T * B, ...]``.
    """

    def __init__(self, levels: int = 4, timesteps: int = 1, beta: float = 0.25) -> None:
        super().__init__()
        self.levels = int(levels)
        self.timesteps = int(timesteps)
        self.beta = float(beta)

    def extra_repr(self) -> str:
        return f'D={self.levels}, T={self.timesteps}, beta={self.beta}'

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.timesteps == 1:
            return integer_spikes(x, self.levels) / self.levels
        steps = x.unflatten(0, (self.timesteps, -1))
        membrane = torch.zeros_like(steps[0])
        out = []
        for t in range(self.timesteps):
            potential = membrane + steps[t]
            count = integer_spikes(potential, self.levels)
            membrane = self.beta * (potential - count)
            out.append(count / self.levels)
        return torch.stack(out).flatten(0, 1)
