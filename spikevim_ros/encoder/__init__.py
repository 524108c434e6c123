"""Spike-driven image encoder (E-SpikeFormer / Spike-Driven Transformer V3) for retrieval."""

from .backbone import VARIANTS, ESpikeFormer, create_backbone
from .build import build_encoder
from .model import SpikeEncoder
from .preprocess import load_image, preprocess, preprocess_batch
from .shipped import DEMO, resolve_weights
from .weights import load_weights, save_weights

__all__ = [
    'DEMO', 'VARIANTS', 'ESpikeFormer', 'SpikeEncoder', 'build_encoder', 'create_backbone',
    'load_image', 'load_weights', 'preprocess', 'preprocess_batch', 'resolve_weights',
    'save_weights',
]
