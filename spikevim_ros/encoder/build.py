"""``build_encoder``: the single entry point used by training, gallery and nodes."""

from typing import Optional

from .backbone import INIT_SEED, create_backbone, variant_config
from .model import SpikeEncoder
from .shipped import resolve_weights
from .weights import load_weights

RUNTIMES = ('eager', 'fast', 'int8', 'auto')


def resolve_runtime(runtime: str) -> str:
    """
    Map ``auto`` to the fastest runtime that keeps descriptors equal to eager.

    That is the fused fp32 engine: the int8 engine is faster on CPU but only approximates the
    descriptors (see README), so it must be requested explicitly.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f'runtime must be one of {RUNTIMES}, got {runtime!r}')
    return 'fast' if runtime == 'auto' else runtime


def build_encoder(variant: str = 'T', weights: Optional[str] = None,
                  runtime: str = 'auto') -> SpikeEncoder:
    """
    Build the E-SpikeFormer descriptor encoder in eval mode.

    ``variant`` is "T" (10M, 240-d) or "S" (19M, 360-d); ``weights`` a ``.safetensors`` file of
    ours or the authors' ``.pth``, or "demo" for the shipped demo model; without weights
    ("none" or None) the init is deterministic (seed 0).
    ``runtime``: "eager" (trainable reference), "fast" (BN-folded fp32), "int8" (onnxruntime
    static int8) or "auto".
    """
    variant = str(variant).upper()
    variant_config(variant)
    runtime = resolve_runtime(runtime)
    backbone = create_backbone(variant)
    weights_id = f'random-init-seed{INIT_SEED}'
    weights = resolve_weights(weights)
    if weights is not None:
        weights_id = load_weights(backbone, weights, variant)
    encoder = SpikeEncoder(backbone, variant, weights_id, runtime).eval()
    if runtime == 'fast':
        from .fast import build_fast_engine
        encoder.engine = build_fast_engine(backbone)
    elif runtime == 'int8':
        from .quantize import build_int8_engine
        encoder.engine = build_int8_engine(backbone)
    return encoder
