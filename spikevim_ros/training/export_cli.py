"""``spikevim export``: a training checkpoint -> backbone-only safetensors + model card."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch
import yaml

from spikevim_ros.encoder import create_backbone, save_weights
from spikevim_ros.encoder.weights import load_torch_checkpoint

BACKBONE_PREFIX = 'backbone.'


def backbone_state(checkpoint: dict) -> dict[str, torch.Tensor]:
    """Return the backbone tensors of a training checkpoint (heads dropped)."""
    state = checkpoint['model']
    out = {k[len(BACKBONE_PREFIX):]: v for k, v in state.items() if k.startswith(BACKBONE_PREFIX)}
    if not out:
        raise ValueError('checkpoint has no backbone.* tensors: not a spikevim training '
                         'checkpoint')
    return out


def export_backbone(checkpoint_path: str | Path, output: str | Path, card: dict | None = None,
                    fp16: bool = False) -> Path:
    """Write the backbone of a ``last.pt`` checkpoint as safetensors; return the card path."""
    checkpoint = load_torch_checkpoint(checkpoint_path)
    variant = checkpoint.get('variant', 'T')
    backbone = create_backbone(variant)
    backbone.load_state_dict(backbone_state(checkpoint), strict=True)
    config = checkpoint.get('config', {})
    facts = {'training_input_size': int(config.get('image_size', 384)),
             'training_steps': int(checkpoint.get('step', 0)),
             'dtype': 'float16' if fp16 else 'float32'}
    facts.update(card or {})
    if fp16:
        backbone = copy.deepcopy(backbone).half()
    backbone.variant = variant
    return save_weights(backbone, str(output), facts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the export options."""
    parser.add_argument('checkpoint', help='training checkpoint (runs/<name>/last.pt)')
    parser.add_argument('output', help='output .safetensors (the model card is written beside '
                                       'it with the same stem and .yaml)')
    parser.add_argument('--card', help='YAML file of extra model-card fields (training_data, '
                                       'metrics, notes, ...)')
    parser.add_argument('--fp16', action='store_true',
                        help='store weights in float16 (half the size; loads as float32)')


def run(args: argparse.Namespace) -> int:
    """Export and print where the files went."""
    card = yaml.safe_load(Path(args.card).read_text()) if args.card else None
    card_path = export_backbone(args.checkpoint, args.output, card, args.fp16)
    print(f'wrote {args.output} and {card_path}')
    return 0
