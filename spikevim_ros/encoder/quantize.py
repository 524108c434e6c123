"""
Int8 engine: onnxruntime static QDQ quantisation of the fused graph.

Every conv input except the stem's is an integer spike count ``k`` in ``{0..D}``, so its
activation quantisation is fixed to scale 1 / zero-point 0 (lossless); weights are int8
per output channel and conv outputs are calibrated (min/max) on a few images.
"""

import tempfile
from pathlib import Path
from typing import Optional

import numpy as np
import onnx
import torch
from torch import nn

from .backbone import ESpikeFormer
from .onnx_export import export_onnx, onnx_session


def calibration_images(count: int = 4, size: int = 384, seed: int = 0) -> torch.Tensor:
    """Return ``count`` deterministic smooth random images (normalised scale)."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.randn((count, 3, 12, 12), generator=gen)
    return nn.functional.interpolate(low, size=size, mode='bilinear', align_corners=False)


def _spike_overrides(model: onnx.ModelProto) -> dict:
    """Fix the quantisation of every integer spike tensor (``Round`` output) to scale 1."""
    exact = [{'scale': np.array(1.0, dtype=np.float32),
              'zero_point': np.array(0, dtype=np.uint8)}]
    return {n.output[0]: exact for n in model.graph.node if n.op_type == 'Round'}


def quantize_onnx(fp32_path: str, int8_path: str, images: torch.Tensor) -> Path:
    """Quantise an exported fp32 graph to int8 QDQ, calibrating on ``images`` [N, 3, H, W]."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{'images': images[i:i + 1].numpy()} for i in range(len(images))])

        def get_next(self):
            return next(self.items, None)

    overrides = _spike_overrides(onnx.load(str(fp32_path)))
    quantize_static(str(fp32_path), str(int8_path), _Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, op_types_to_quantize=['Conv'],
                    extra_options={'TensorQuantOverrides': overrides})
    return Path(int8_path)


class OrtEngine:
    """Callable running an onnxruntime session; returns the descriptors as a tensor."""

    returns_descriptors = True

    def __init__(self, path: str, threads: int = 0) -> None:
        self.path = str(path)
        self.session = onnx_session(path, threads)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {'images': x.detach().cpu().float().numpy()})[0]
        return torch.from_numpy(out)


def build_int8_engine(backbone: ESpikeFormer, images: Optional[torch.Tensor] = None,
                      out_dir: Optional[str] = None) -> OrtEngine:
    """Export, calibrate (default: synthetic images) and load the int8 engine."""
    from .model import SpikeEncoder

    directory = Path(out_dir or tempfile.mkdtemp(prefix='spikevim_int8_'))
    fp32 = export_onnx(SpikeEncoder(backbone, '', ''), directory / 'encoder_fp32.onnx')
    images = calibration_images() if images is None else images
    int8 = quantize_onnx(fp32, directory / 'encoder_int8.onnx', images)
    return OrtEngine(int8)
