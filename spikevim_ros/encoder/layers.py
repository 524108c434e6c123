"""
Spike-driven building blocks of E-SpikeFormer (Spike-Driven Transformer V3).

Attribute names follow the authors' reference implementation so that ``state_dict`` keys of
their checkpoints load unchanged. Every weighted layer receives spikes (``k / D``) except the
stem, which sees the real-valued image.
"""

from typing import Callable

import torch
from torch import nn

from .neuron import MultiSpike

SpikeFactory = Callable[[], nn.Module]


def conv_bn(in_ch: int, out_ch: int, kernel: int = 1, padding: int = 0,
            groups: int = 1) -> nn.Sequential:
    """Return a bias-free ``Conv2d`` followed by ``BatchNorm2d`` (keys ``.0`` and ``.1``)."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, padding=padding, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch))


class SepConvSpike(nn.Module):
    """Inverted separable conv: spike, 1x1 expand, spike, depthwise, spike, 1x1 project."""

    def __init__(self, dim: int, kernel_size: int = 7, expansion: int = 2,
                 spike: SpikeFactory = MultiSpike) -> None:
        super().__init__()
        med = int(dim * expansion)
        self.spike1 = spike()
        self.pwconv1 = conv_bn(dim, med)
        self.spike2 = spike()
        self.dwconv = conv_bn(med, med, kernel_size, kernel_size // 2, groups=med)
        self.spike3 = spike()
        self.pwconv2 = conv_bn(med, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pwconv1(self.spike1(x))
        x = self.dwconv(self.spike2(x))
        return self.pwconv2(self.spike3(x))


class ConvBlock(nn.Module):
    """Conv-stage block: separable conv then a spiking 3x3-conv MLP, both residual."""

    def __init__(self, dim: int, mlp_ratio: int = 4, spike: SpikeFactory = MultiSpike) -> None:
        super().__init__()
        hidden = dim * mlp_ratio
        self.Conv = SepConvSpike(dim, kernel_size=7, spike=spike)
        self.spike1 = spike()
        self.conv1 = nn.Conv2d(dim, hidden, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.spike2 = spike()
        self.conv2 = nn.Conv2d(hidden, dim, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.Conv(x)
        y = self.bn1(self.conv1(self.spike1(x)))
        y = self.bn2(self.conv2(self.spike2(y)))
        return x + y


class SpikeMlp(nn.Module):
    """Token MLP on ``[B, C, H, W]`` maps (1x1 ``Conv1d`` + ``BatchNorm1d`` over tokens)."""

    def __init__(self, dim: int, hidden: int, spike: SpikeFactory = MultiSpike) -> None:
        super().__init__()
        self.fc1_spike = spike()
        self.fc1_conv = nn.Conv1d(dim, hidden, 1)
        self.fc1_bn = nn.BatchNorm1d(hidden)
        self.fc2_spike = spike()
        self.fc2_conv = nn.Conv1d(hidden, dim, 1)
        self.fc2_bn = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = self.fc1_bn(self.fc1_conv(self.fc1_spike(x.flatten(2))))
        x = self.fc2_bn(self.fc2_conv(self.fc2_spike(x)))
        return x.reshape(shape)


class SpikeLinearAttention(nn.Module):
    """
    Spike-driven linear attention: ``Q (K^T V) * scale`` with spiking Q, K, V, no softmax.

    The value width is ``value_ratio * dim``; the scale is ``2 / sqrt(dim / heads)``.
    """

    def __init__(self, dim: int, num_heads: int = 8, value_ratio: int = 4,
                 spike: SpikeFactory = MultiSpike) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.value_dim = dim * value_ratio
        self.scale = 2.0 * (dim // num_heads) ** -0.5
        self.head_spike = spike()
        self.q_conv = conv_bn(dim, dim)
        self.q_spike = spike()
        self.k_conv = conv_bn(dim, dim)
        self.k_spike = spike()
        self.v_conv = conv_bn(dim, self.value_dim)
        self.v_spike = spike()
        self.attn_spike = spike()
        self.proj_conv = conv_bn(self.value_dim, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """Reshape ``[B, C, H, W]`` to ``[B, heads, N, C / heads]``."""
        b, c = x.shape[:2]
        return x.reshape(b, self.num_heads, c // self.num_heads, -1).transpose(-1, -2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        x = self.head_spike(x)
        q = self._heads(self.q_spike(self.q_conv(x)))
        k = self._heads(self.k_spike(self.k_conv(x)))
        v = self._heads(self.v_spike(self.v_conv(x)))
        x = q @ (k.transpose(-2, -1) @ v) * self.scale
        x = self.attn_spike(x.transpose(-1, -2).reshape(b, self.value_dim, h, w))
        return self.proj_conv(x)


class TransformerBlock(nn.Module):
    """Transformer-stage block: 3x3 separable conv, linear attention, token MLP (residual)."""

    def __init__(self, dim: int, num_heads: int = 8, mlp_ratio: int = 4,
                 spike: SpikeFactory = MultiSpike) -> None:
        super().__init__()
        self.conv = SepConvSpike(dim, kernel_size=3, spike=spike)
        self.attn = SpikeLinearAttention(dim, num_heads, value_ratio=4, spike=spike)
        self.mlp = SpikeMlp(dim, dim * mlp_ratio, spike=spike)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.conv(x)
        x = x + self.attn(x)
        return x + self.mlp(x)


class Downsample(nn.Module):
    """Strided conv + BN; spiking input except for the stem (``first_layer=True``)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 2,
                 first_layer: bool = False, spike: SpikeFactory = MultiSpike) -> None:
        super().__init__()
        self.encode_spike = nn.Identity() if first_layer else spike()
        self.encode_conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, kernel_size // 2)
        self.encode_bn = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_bn(self.encode_conv(self.encode_spike(x)))
