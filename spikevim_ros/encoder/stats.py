"""
Per-layer MACs, firing rates and synaptic operations, measured with temporary hooks.

Hooks exist only inside a :class:`SpikeMonitor` block, so inference pays nothing otherwise.
"""

from dataclasses import asdict, dataclass
from typing import Dict, List

import torch
from torch import nn

from .backbone import ESpikeFormer
from .layers import SpikeLinearAttention


@dataclass
class LayerStats:
    """
    Accumulated statistics of one weighted layer (per image averages via ``images``).

    ``macs_quadratic`` is only set for attention: the MACs of the ``(Q K^T) V`` order used
    by the authors' code and MAC totals, instead of the ``Q (K^T V)`` order run here.
    """

    name: str
    kind: str
    spike_input: bool
    macs: float = 0.0
    macs_quadratic: float = 0.0
    sops: float = 0.0
    inputs: float = 0.0
    nonzero: float = 0.0
    count: float = 0.0
    images: int = 0

    def as_dict(self, levels: int) -> Dict:
        """Return per-image numbers and both firing-rate definitions."""
        n = max(self.images, 1)
        out = asdict(self)
        out.update(macs=self.macs / n, macs_quadratic=self.macs_quadratic / n,
                   sops=self.sops / n,
                   rate_nonzero=self.nonzero / max(self.inputs, 1),
                   rate_count=self.count / max(self.inputs, 1) / levels)
        for key in ('inputs', 'nonzero', 'count', 'images'):
            out.pop(key)
        return out


class SpikeMonitor:
    """
    Context manager collecting :class:`LayerStats` for every conv and attention matmul.

    SOPs follow the spike-train view: a count ``k`` is ``k`` binary spikes, each triggering one
    addition per synapse, so ``SOPs = T * mean(k) * MACs`` (= ``T * D * rate_count * MACs``).
    """

    def __init__(self, backbone: ESpikeFormer) -> None:
        self.backbone = backbone
        self.levels = backbone.levels
        self.timesteps = backbone.timesteps
        self.layers: Dict[str, LayerStats] = {}
        self._handles: List = []
        self._qkv: Dict[str, torch.Tensor] = {}

    def __enter__(self) -> 'SpikeMonitor':
        stem = self.backbone.downsample1_1.encode_conv
        for name, module in self.backbone.named_modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d)):
                self.layers[name] = LayerStats(name, 'conv', module is not stem)
                self._handles.append(module.register_forward_hook(self._conv_hook(name)))
            elif isinstance(module, SpikeLinearAttention):
                self.layers[name + '.matmul'] = LayerStats(name + '.matmul', 'matmul', True)
                for part in ('q', 'k', 'v'):
                    spike = getattr(module, part + '_spike')
                    self._handles.append(spike.register_forward_hook(self._keep(part)))
                self._handles.append(module.register_forward_hook(self._attn_hook(name)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _record(self, stats: LayerStats, x: torch.Tensor, macs: float, sops: float) -> None:
        batch = x.shape[0] // self.timesteps
        stats.images += batch
        stats.macs += macs * batch
        stats.sops += sops
        if stats.spike_input:
            stats.inputs += x.numel()
            stats.nonzero += float((x != 0).sum())
            stats.count += float(x.sum()) * self.levels

    def _conv_hook(self, name: str):
        def hook(module, inputs, output):
            x = inputs[0]
            per_out = module.in_channels // module.groups * module.weight[0, 0].numel()
            macs = output[0].numel() * per_out * self.timesteps
            mean_k = float(x.mean()) * self.levels if self.layers[name].spike_input else 0.0
            self._record(self.layers[name], x, macs, macs * mean_k * x.shape[0] // self.timesteps)
        return hook

    def _keep(self, part: str):
        def hook(module, inputs, output):
            self._qkv[part] = output.detach()
        return hook

    def _attn_hook(self, name: str):
        def hook(module, inputs, output):
            q, k, v = (self._qkv[p] * self.levels for p in 'qkv')
            heads = module.num_heads
            b, c, h, w = q.shape
            cv = v.shape[1]
            macs = 2 * h * w * c * cv // heads * self.timesteps
            stats = self.layers[name + '.matmul']
            stats.macs_quadratic += (h * w) ** 2 * (c + cv) * b
            kh = k.reshape(b, heads, c // heads, -1).sum(2)
            vh = v.reshape(b, heads, cv // heads, -1).sum(2)
            sops = float((kh * vh).sum()) + float(q.sum()) * cv / heads
            self._record(stats, q, macs, sops)
        return hook

    def report(self) -> List[Dict]:
        """Return per-layer dicts in execution order."""
        return [s.as_dict(self.levels) for s in self.layers.values() if s.images]
