"""
Inference-only fused fp32 engine: BN folded into convs, spikes as integer counts.

Each spike ``k / D`` is emitted as the integer ``k`` and the ``1 / D`` factor is folded into
the next layer's weights; q/k/v projections are merged into one conv. Outputs equal the eager
backbone up to float rounding.
"""

import warnings
from typing import List

import torch
from torch import nn

from .backbone import ESpikeFormer
from .layers import ConvBlock, Downsample, SepConvSpike, SpikeLinearAttention, SpikeMlp
from .layers import TransformerBlock


def fold_conv_bn(conv: nn.Module, bn: nn.Module, in_scale: float = 1.0) -> nn.Conv2d:
    """Return a ``Conv2d`` equal to ``bn(conv(in_scale * x))`` in eval mode (folded in fp64)."""
    weight = conv.weight.detach().double()
    if weight.dim() == 3:
        weight = weight.unsqueeze(-1)
    std = torch.sqrt(bn.running_var.double() + bn.eps)
    gain = bn.weight.detach().double() / std
    bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros_like(std)
    fused = nn.Conv2d(weight.shape[1] * conv.groups, weight.shape[0], weight.shape[2:],
                      stride=conv.stride[0], padding=conv.padding[0], groups=conv.groups)
    with torch.no_grad():
        fused.weight.copy_(weight * (gain * in_scale).view(-1, 1, 1, 1))
        fused.bias.copy_(bn.bias.detach().double() + (bias - bn.running_mean.double()) * gain)
    return fused.requires_grad_(False)


class IntSpike(nn.Module):
    """Integer spike count ``round(clip(x, 0, D))``."""

    def __init__(self, levels: int) -> None:
        super().__init__()
        self.levels = levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(torch.clamp(x, 0, self.levels))


class FusedSepConv(nn.Sequential):
    """Fused :class:`SepConvSpike`."""

    def __init__(self, m: SepConvSpike, levels: int) -> None:
        inv = 1.0 / levels
        super().__init__(
            IntSpike(levels), fold_conv_bn(m.pwconv1[0], m.pwconv1[1], inv),
            IntSpike(levels), fold_conv_bn(m.dwconv[0], m.dwconv[1], inv),
            IntSpike(levels), fold_conv_bn(m.pwconv2[0], m.pwconv2[1], inv))


class FusedConvBlock(nn.Module):
    """Fused :class:`ConvBlock`."""

    def __init__(self, m: ConvBlock, levels: int) -> None:
        super().__init__()
        inv = 1.0 / levels
        self.sep = FusedSepConv(m.Conv, levels)
        self.mlp = nn.Sequential(IntSpike(levels), fold_conv_bn(m.conv1, m.bn1, inv),
                                 IntSpike(levels), fold_conv_bn(m.conv2, m.bn2, inv))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.sep(x)
        return x + self.mlp(x)


class FusedAttention(nn.Module):
    """Fused :class:`SpikeLinearAttention` with one q/k/v conv."""

    def __init__(self, m: SpikeLinearAttention, levels: int) -> None:
        super().__init__()
        inv = 1.0 / levels
        convs = [fold_conv_bn(c[0], c[1], inv) for c in (m.q_conv, m.k_conv, m.v_conv)]
        self.qkv = nn.Conv2d(convs[0].in_channels, sum(c.out_channels for c in convs), 1)
        with torch.no_grad():
            self.qkv.weight.copy_(torch.cat([c.weight for c in convs]))
            self.qkv.bias.copy_(torch.cat([c.bias for c in convs]))
        self.qkv.requires_grad_(False)
        self.spike = IntSpike(levels)
        self.split = [c.out_channels for c in convs]
        self.num_heads = m.num_heads
        self.scale = m.scale / levels ** 3
        self.proj = fold_conv_bn(m.proj_conv[0], m.proj_conv[1], inv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        qkv = self.spike(self.qkv(self.spike(x))).flatten(2)
        q, k, v = (t.unflatten(1, (self.num_heads, -1)).transpose(-1, -2)
                   for t in torch.split(qkv, self.split, dim=1))
        x = self.attend(q, k, v) * self.scale
        return self.proj(self.spike(x.transpose(-1, -2).reshape(b, -1, h, w)))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Return ``Q (K^T V)`` for integer spike counts (exact in fp32)."""
        return q @ (k.transpose(-2, -1) @ v)


class FusedTransformerBlock(nn.Module):
    """Fused :class:`TransformerBlock`."""

    def __init__(self, m: TransformerBlock, levels: int) -> None:
        super().__init__()
        inv = 1.0 / levels
        mlp: SpikeMlp = m.mlp
        self.sep = FusedSepConv(m.conv, levels)
        self.attn = FusedAttention(m.attn, levels)
        self.mlp = nn.Sequential(IntSpike(levels), fold_conv_bn(mlp.fc1_conv, mlp.fc1_bn, inv),
                                 IntSpike(levels), fold_conv_bn(mlp.fc2_conv, mlp.fc2_bn, inv))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.sep(x)
        x = x + self.attn(x)
        return x + self.mlp(x)


def _fuse(module: nn.Module, levels: int) -> nn.Module:
    if isinstance(module, Downsample):
        first = isinstance(module.encode_spike, nn.Identity)
        conv = fold_conv_bn(module.encode_conv, module.encode_bn, 1.0 if first else 1 / levels)
        return conv if first else nn.Sequential(IntSpike(levels), conv)
    if isinstance(module, ConvBlock):
        return FusedConvBlock(module, levels)
    if isinstance(module, TransformerBlock):
        return FusedTransformerBlock(module, levels)
    raise TypeError(f'cannot fuse {type(module).__name__}')


class FusedBackbone(nn.Sequential):
    """BN-folded, integer-spike copy of an :class:`ESpikeFormer` (T=1, inference only)."""

    def __init__(self, backbone: ESpikeFormer) -> None:
        if backbone.timesteps != 1:
            raise ValueError(f'fused runtimes support T=1 only, got T={backbone.timesteps}')
        layers: List[nn.Module] = [_fuse(m, backbone.levels) for m in backbone.stages()]
        super().__init__(*layers)
        self.eval()


class FastEngine(nn.Module):
    """
    Callable engine running a :class:`FusedBackbone` (channels-last on CPU).

    On CUDA (optional, never required here): batch 1 runs a ``torch.compile`` graph in
    ``reduce-overhead`` mode (CUDA graphs), falling back to the plain module if compilation
    is unavailable; larger batches run under bf16 autocast.
    """

    def __init__(self, backbone: ESpikeFormer) -> None:
        super().__init__()
        self.fused = FusedBackbone(backbone).to(memory_format=torch.channels_last)
        self._graph = None

    def _cuda_single(self, x: torch.Tensor) -> torch.Tensor:
        """Run one CUDA image through the compiled (CUDA-graph) module."""
        if self._graph is None:
            try:
                self._graph = torch.compile(self.fused, mode='reduce-overhead', dynamic=False)
                self._graph(x)
            except Exception as error:  # compiler missing (no triton/C++ toolchain)
                warnings.warn(f'torch.compile unavailable ({error}); running uncompiled')
                self._graph = self.fused
        return self._graph(x).clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if next(self.fused.parameters()).device != x.device:
            self.fused.to(x.device)
        x = x.contiguous(memory_format=torch.channels_last)
        if x.is_cuda and x.shape[0] == 1:
            return self._cuda_single(x)
        if x.is_cuda:
            with torch.autocast('cuda', dtype=torch.bfloat16):
                return self.fused(x).float()
        return self.fused(x)


def build_fast_engine(backbone: ESpikeFormer) -> FastEngine:
    """Return the fused fp32 engine for ``backbone`` (weights are copied)."""
    device = next(backbone.parameters()).device
    return FastEngine(backbone.cpu()).to(device).eval()
