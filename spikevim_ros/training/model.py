"""Training model: the encoder backbone plus the auxiliary SSA and SHS heads."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from spikevim_ros.encoder import build_encoder
from spikevim_ros.training.shs import SHS, LocationClassifier
from spikevim_ros.training.ssa import SSA


class CrossViewModel(nn.Module):
    """
    Backbone shared by drone and satellite views, with training-only heads.

    The retrieval descriptor is exactly the deployed one (L2-normalised global average of the
    backbone map). SSA works on the map's tokens, SHS + classifier predict the location.
    """

    def __init__(self, variant: str = 'T', num_classes: int = 2, weights: str | None = None,
                 state_dim: int = 64, temperature: float = 0.07, ssa_form: str = 'paper',
                 ssa_mlp_ratio: int = 4) -> None:
        super().__init__()
        encoder = build_encoder(variant, weights=weights, runtime='eager')
        self.variant = encoder.variant
        self.backbone = encoder.backbone
        dim = self.backbone.num_features
        self.ssa = SSA(dim, ssa_mlp_ratio, ssa_form)
        self.shs = SHS(dim, state_dim)
        self.classifier = LocationClassifier(dim, num_classes)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    def encode(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return descriptor, pooled SSA tokens and class logits of one view's batch."""
        fmap = self.backbone.forward_features(images).float()
        grid = tuple(fmap.shape[-2:])
        tokens = self.ssa(fmap.flatten(2), grid)
        shs = self.shs(fmap)
        return {'descriptor': F.normalize(fmap.mean((2, 3)), dim=1),
                'ssa': tokens,
                'logits': self.classifier(shs.mean((2, 3)))}

    def forward(self, drone: torch.Tensor, satellite: torch.Tensor
                ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Encode both views in one backbone pass (BatchNorm sees both domains)."""
        both = self.encode(torch.cat([drone, satellite]))
        n = drone.shape[0]
        return ({k: v[:n] for k, v in both.items()}, {k: v[n:] for k, v in both.items()})
