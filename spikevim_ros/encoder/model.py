"""Descriptor head: global average of the backbone feature map, L2-normalised."""

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import ESpikeFormer

FeatureEngine = Callable[[torch.Tensor], torch.Tensor]


def check_images(x: torch.Tensor) -> None:
    """Raise ValueError unless ``x`` is a float batch ``[B, 3, H, W]`` with H, W % 16 == 0."""
    if not torch.is_tensor(x):
        raise ValueError(f'encoder input must be a torch.Tensor, got {type(x).__name__}')
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f'encoder input must be [B, 3, H, W] (ImageNet-normalised RGB, see '
                         f'encoder.preprocess), got shape {tuple(x.shape)}')
    if not x.is_floating_point():
        raise ValueError(f'encoder input must be a float tensor, got {x.dtype}; '
                         'use encoder.preprocess on uint8 images')
    h, w = x.shape[-2:]
    if h < 32 or w < 32 or h % 16 or w % 16:
        raise ValueError(f'encoder input height/width must be >= 32 and multiples of 16 '
                         f'(384 by default), got {h}x{w}')


class SpikeEncoder(nn.Module):
    """
    Map ``[B, 3, H, W]`` images to L2-normalised descriptors ``[B, C]``.

    ``backbone`` always holds the authors'-layout eager model (used for training and
    ``state_dict``); in eval mode an optional ``engine`` (fused fp32 or int8) computes the
    feature map instead.
    """

    def __init__(self, backbone: ESpikeFormer, variant: str, weights_id: str,
                 runtime: str = 'eager', engine: Optional[FeatureEngine] = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.variant = variant
        self.descriptor_dim = backbone.num_features
        self.weights_id = weights_id
        self.runtime = runtime
        self.engine = engine

    def extra_repr(self) -> str:
        return (f'variant={self.variant}, descriptor_dim={self.descriptor_dim}, '
                f'runtime={self.runtime}, weights_id={self.weights_id}')

    def _use_engine(self) -> bool:
        return self.engine is not None and not self.training

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the feature map ``[B, C, H/16, W/16]`` (eager or fused fp32 engine)."""
        check_images(x)
        if self._use_engine() and not getattr(self.engine, 'returns_descriptors', False):
            with torch.inference_mode():
                return self.engine(x)
        return self.backbone.forward_features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._use_engine() and getattr(self.engine, 'returns_descriptors', False):
            check_images(x)
            with torch.inference_mode():
                return self.engine(x).to(x.device)
        return F.normalize(self.forward_features(x).float().mean((2, 3)), dim=1)
