"""
``spikevim energy``: MACs, firing rates, SOPs and the E_SNN vs E_ANN energy estimate.

Paper Eq. 37: ``E_SNN = E_MAC * MACs(stem, real-valued input) + E_AC * T * sum(fr * MACs)``
over the spike-fed layers, with 45 nm figures ``E_MAC = 4.6 pJ``, ``E_AC = 0.9 pJ``, and
``E_ANN = E_MAC * MACs``. The headline ``energy_snn_mj`` takes ``fr = rate_nonzero`` (the
fraction of non-zero activations, the paper's firing rate); ``energy_mj_spike_count`` is
reported alongside with the spike-train view (a count ``k`` is ``k`` binary spikes:
``SOPs = T * D * rate_count * MACs``, ``rate_count`` = mean integer spike count / D).
"""

import argparse
import json
from pathlib import Path
from typing import Dict, List, Optional

import torch

from .build import build_encoder
from .preprocess import INPUT_SIZE, load_image
from .quantize import calibration_images
from .stats import SpikeMonitor

E_MAC_PJ = 4.6
E_AC_PJ = 0.9
PJ_TO_MJ = 1e-9
PAPER_MJ = {'T': 32.53, 'S': 53.88}
IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff'}


def find_images(folder: str, limit: int) -> List[Path]:
    """Return up to ``limit`` image files under ``folder`` (sorted, recursive)."""
    files = sorted(p for p in Path(folder).rglob('*') if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f'no images found under {folder}')
    return files[:limit]


def measure(variant: str = 'T', weights: Optional[str] = None,
            images: Optional[torch.Tensor] = None, size: int = INPUT_SIZE) -> Dict:
    """Run the eager encoder on ``images`` under a :class:`SpikeMonitor`; return the report."""
    encoder = build_encoder(variant, weights, runtime='eager')
    images = calibration_images(2, size) if images is None else images
    backbone = encoder.backbone
    with torch.inference_mode(), SpikeMonitor(backbone) as monitor:
        for image in images:
            backbone.forward_features(image[None])
    layers = monitor.report()
    macs = sum(layer['macs'] for layer in layers)
    macs_paper = sum(layer['macs_quadratic'] or layer['macs'] for layer in layers)
    stem_macs = sum(layer['macs'] for layer in layers if not layer['spike_input'])
    sops = sum(layer['sops'] for layer in layers)
    sops_nonzero = synaptic_ops(layers)
    return {
        'variant': encoder.variant, 'weights_id': encoder.weights_id, 'input_size': size,
        'timesteps': backbone.timesteps, 'levels': backbone.levels, 'images': len(images),
        'firing_rate_definition': 'rate_nonzero = fraction of non-zero activations (paper '
                                  'Eq. 37, headline); rate_count = mean integer spike count '
                                  '/ D (spike-train view, energy_mj_spike_count)',
        'macs': macs, 'macs_paper_order': macs_paper, 'stem_macs': stem_macs,
        'sops': sops_nonzero, 'sops_spike_count': sops,
        'mean_rate_count': _weighted(layers, 'rate_count'),
        'mean_rate_nonzero': _weighted(layers, 'rate_nonzero'),
        'energy_ann_mj': E_MAC_PJ * macs * PJ_TO_MJ,
        'energy_snn_mj': snn_energy_mj(stem_macs, sops_nonzero),
        'energy_mj_spike_count': snn_energy_mj(stem_macs, sops),
        'paper_energy_mj': PAPER_MJ.get(encoder.variant),
        'layers': layers,
    }


def synaptic_ops(layers: List[Dict]) -> float:
    """
    Return ``sum(rate_nonzero * MACs)`` over the spike-fed layers (paper Eq. 37).

    A layer's ``macs`` are already summed over the ``T`` timesteps, which is Eq. 37's ``T``.
    """
    return sum(layer['macs'] * layer['rate_nonzero'] for layer in layers
               if layer['spike_input'])


def snn_energy_mj(stem_macs: float, sops: float) -> float:
    """Return ``E_MAC * stem MACs + E_AC * SOPs`` in millijoules."""
    return (E_MAC_PJ * stem_macs + E_AC_PJ * sops) * PJ_TO_MJ


def _weighted(layers: List[Dict], key: str) -> float:
    spiking = [layer for layer in layers if layer['spike_input']]
    total = sum(layer['macs'] for layer in spiking)
    return sum(layer[key] * layer['macs'] for layer in spiking) / max(total, 1.0)


def format_report(report: Dict) -> str:
    """Return a per-layer table plus totals."""
    lines = [f"{'layer':<44}{'MMACs':>10}{'rate_nz':>9}{'rate_k/D':>9}{'MSOPs_k':>10}"]
    for layer in report['layers']:
        lines.append(f"{layer['name']:<44}{layer['macs'] / 1e6:>10.1f}"
                     f"{layer['rate_nonzero']:>9.3f}{layer['rate_count']:>9.3f}"
                     f"{layer['sops'] / 1e6:>10.1f}")
    lines.append(f"variant {report['variant']} ({report['weights_id']}), {report['images']} "
                 f"images at {report['input_size']}px")
    lines.append(f"MACs {report['macs'] / 1e9:.2f} G as run, Q(K^T V) "
                 f"({report['macs_paper_order'] / 1e9:.2f} G with the paper's (Q K^T) V order), "
                 f"SOPs {report['sops'] / 1e9:.2f} G "
                 f"({report['sops_spike_count'] / 1e9:.2f} G counting spikes), "
                 f"mean rate_count {report['mean_rate_count']:.3f}, "
                 f"mean rate_nonzero {report['mean_rate_nonzero']:.3f}")
    lines.append(f"E_ANN {report['energy_ann_mj']:.2f} mJ, E_SNN {report['energy_snn_mj']:.2f} mJ"
                 f" (Eq. 37, non-zero rate; spike-count view "
                 f"{report['energy_mj_spike_count']:.2f} mJ; "
                 f"paper, trained weights: {report['paper_energy_mj']} mJ)")
    return '\n'.join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``spikevim energy`` options to ``parser``."""
    parser.add_argument('--variant', default='T', choices=['T', 'S'])
    parser.add_argument('--weights', default=None, help='safetensors or authors .pth')
    parser.add_argument('--images', default=None,
                        help='folder of real images (default: synthetic smooth images)')
    parser.add_argument('--max-images', type=int, default=8)
    parser.add_argument('--size', type=int, default=INPUT_SIZE)
    parser.add_argument('--json', default=None, help='write the full report here')


def run(args: argparse.Namespace) -> int:
    """Run the energy report for parsed ``args``; return the exit code."""
    images = None
    if args.images:
        files = find_images(args.images, args.max_images)
        images = torch.cat([load_image(str(p), args.size) for p in files])
    report = measure(args.variant, args.weights, images, args.size)
    report['image_source'] = args.images or 'synthetic'
    print(format_report(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0
