r"""
ONNX export of the fused descriptor network, checked against PyTorch with onnxruntime.

TensorRT on a Jetson (not runnable on this CPU-only build machine)::

    trtexec --onnx=encoder_T.onnx --saveEngine=encoder_T_fp16.plan --fp16 \
        --shapes=images:1x3x384x384
    trtexec --onnx=encoder_T.onnx --saveEngine=encoder_T_int8.plan --int8 --fp16 \
        --shapes=images:1x3x384x384

The fp32 graph is exported (not the onnxruntime-int8 one): TensorRT calibrates INT8 itself.
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .fast import FusedBackbone
from .model import SpikeEncoder

OPSET = 17


class DescriptorGraph(nn.Module):
    """Fused backbone + global average + L2 normalisation, as exported to ONNX."""

    def __init__(self, encoder: SpikeEncoder) -> None:
        super().__init__()
        self.fused = FusedBackbone(encoder.backbone.cpu())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.fused(images).mean((2, 3)), dim=1)


def export_onnx(model: SpikeEncoder, path: str, size: int = 384, opset: int = OPSET) -> Path:
    """
    Export ``model`` to ``path`` (input ``images`` [B, 3, H, W], output ``descriptors``).

    Batch, height and width are dynamic axes; ``size`` is only the tracing resolution.
    """
    if opset < 17:
        raise ValueError(f'opset must be >= 17, got {opset}')
    graph = DescriptorGraph(model).eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, size, size)
    with torch.no_grad():
        torch.onnx.export(graph, (dummy,), str(path), input_names=['images'],
                          output_names=['descriptors'], opset_version=opset, dynamo=False,
                          dynamic_axes={'images': {0: 'batch', 2: 'height', 3: 'width'},
                                        'descriptors': {0: 'batch'}})
    return path


def onnx_session(path: str, threads: int = 0):
    """Return an onnxruntime CPU session for ``path`` (``threads=0``: runtime default)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])


def check_onnx(path: str, model: SpikeEncoder, images: torch.Tensor) -> float:
    """Return the smallest cosine between onnxruntime and PyTorch descriptors of ``images``."""
    ours = onnx_session(path).run(None, {'images': images.numpy()})[0]
    with torch.no_grad():
        ref = model(images).numpy()
    return float(np.min(np.sum(ours * ref, axis=1)))
