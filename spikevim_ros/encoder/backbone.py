"""E-SpikeFormer backbone, key-compatible with ``Efficient_Spiking_Transformer_m`` / ``_l``."""

from dataclasses import dataclass
from functools import partial
from typing import Dict, Tuple

import torch
from torch import nn

from .layers import ConvBlock, Downsample, TransformerBlock
from .neuron import MultiSpike


@dataclass(frozen=True)
class VariantConfig:
    """Widths and official model name of one encoder variant."""

    widths: Tuple[int, int, int, int]
    official_name: str
    num_params: int


VARIANTS: Dict[str, VariantConfig] = {
    'T': VariantConfig((48, 96, 192, 240), 'Efficient_Spiking_Transformer_m', 9_782_112),
    'S': VariantConfig((64, 128, 256, 360), 'Efficient_Spiking_Transformer_l', 18_626_504),
}
INIT_SEED = 0
RESIDUAL_GAIN = 0.05


def variant_config(variant: str) -> VariantConfig:
    """Return the config of ``variant`` ("T" or "S") or raise a ValueError."""
    key = str(variant).upper()
    if key not in VARIANTS:
        raise ValueError(f'unknown encoder variant {variant!r}; '
                         f'expected one of {sorted(VARIANTS)}')
    return VARIANTS[key]


class ESpikeFormer(nn.Module):
    """
    Spike-driven transformer backbone mapping ``[B, 3, H, W]`` to ``[B, C, H/16, W/16]``.

    Conv stages at 1/2, 1/4 and 1/8 resolution, transformer stages at 1/16. Images must be
    ImageNet-normalised RGB with ``H`` and ``W`` multiples of 16 (32 recommended).
    """

    def __init__(self, widths: Tuple[int, int, int, int] = (48, 96, 192, 240),
                 num_heads: int = 8, mlp_ratio: int = 4, levels: int = 4,
                 timesteps: int = 1, beta: float = 0.25) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        spike = partial(MultiSpike, levels=levels, timesteps=timesteps, beta=beta)
        self.widths = tuple(widths)
        self.num_features = w3
        self.levels = levels
        self.timesteps = timesteps
        self.downsample1_1 = Downsample(3, w0 // 2, 7, 2, first_layer=True)
        self.ConvBlock1_1 = nn.ModuleList([ConvBlock(w0 // 2, mlp_ratio, spike)])
        self.downsample1_2 = Downsample(w0 // 2, w0, spike=spike)
        self.ConvBlock1_2 = nn.ModuleList([ConvBlock(w0, mlp_ratio, spike)])
        self.downsample2 = Downsample(w0, w1, spike=spike)
        self.ConvBlock2_1 = nn.ModuleList([ConvBlock(w1, mlp_ratio, spike)])
        self.ConvBlock2_2 = nn.ModuleList([ConvBlock(w1, mlp_ratio, spike)])
        self.downsample3 = Downsample(w1, w2, spike=spike)
        self.block3 = nn.ModuleList(
            [TransformerBlock(w2, num_heads, mlp_ratio, spike) for _ in range(6)])
        self.downsample4 = Downsample(w2, w3, stride=1, spike=spike)
        self.block4 = nn.ModuleList(
            [TransformerBlock(w3, num_heads, mlp_ratio, spike) for _ in range(2)])

    def stages(self):
        """Yield the modules applied in order by :meth:`forward_features`."""
        yield self.downsample1_1
        yield from self.ConvBlock1_1
        yield self.downsample1_2
        yield from self.ConvBlock1_2
        yield self.downsample2
        yield from self.ConvBlock2_1
        yield from self.ConvBlock2_2
        yield self.downsample3
        yield from self.block3
        yield self.downsample4
        yield from self.block4

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the real-valued feature map ``[B, C, H/16, W/16]``."""
        modules = self.stages()
        x = next(modules)(x)
        if self.timesteps > 1:
            x = x.unsqueeze(0).expand(self.timesteps, *x.shape).flatten(0, 1)
        for module in modules:
            x = module(x)
        if self.timesteps > 1:
            x = x.unflatten(0, (self.timesteps, -1)).mean(0)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)


def _residual_output_norms(block: nn.Module):
    """Yield the last BatchNorm of every residual branch in ``block``."""
    if isinstance(block, ConvBlock):
        yield from (block.Conv.pwconv2[1], block.bn2)
    elif isinstance(block, TransformerBlock):
        yield from (block.conv.pwconv2[1], block.attn.proj_conv[1], block.mlp.fc2_bn)


def init_weights(model: ESpikeFormer, seed: int = INIT_SEED) -> None:
    """
    Initialise ``model`` deterministically (same weights in every process for ``seed``).

    Convs get He-normal weights; BatchNorm running statistics are then set from one pass over
    a fixed batch of smooth random images, so that an untrained network has realistic firing
    rates instead of silent neurons. Residual branches end with a small BN gain
    (``RESIDUAL_GAIN``) so the untrained network is well conditioned: a single rounding-level
    spike flip should not cascade through the global linear attention. Statistics are rounded
    to fp16 precision so that float summation order (thread count) cannot change the weights.
    """
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            fan_in = module.weight[0].numel()
            with torch.no_grad():
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen)
                                    * (2.0 / fan_in) ** 0.5)
                if module.bias is not None:
                    module.bias.zero_()
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_parameters()
            module.momentum = None
    for block in model.stages():
        for bn in _residual_output_norms(block):
            nn.init.constant_(bn.weight, RESIDUAL_GAIN)
    images = torch.randn((2, 3, 14, 14), generator=gen)
    images = nn.functional.interpolate(images, size=224, mode='bilinear', align_corners=False)
    was_training = model.training
    model.train()
    with torch.no_grad():
        model.forward_features(images)
    model.train(was_training)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = 0.1
            module.running_mean.copy_(module.running_mean.half().float())
            module.running_var.copy_(module.running_var.half().float())
            module.num_batches_tracked.zero_()


def create_backbone(variant: str = 'T', levels: int = 4, timesteps: int = 1,
                    seed: int = INIT_SEED) -> ESpikeFormer:
    """Build the backbone of ``variant`` with deterministic random weights."""
    model = ESpikeFormer(variant_config(variant).widths, levels=levels, timesteps=timesteps)
    init_weights(model, seed)
    return model
