"""``spikevim train --config config/train_T.yaml``: train the encoder with the full objective."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from spikevim_ros.training.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the training options (everything else lives in the YAML config)."""
    parser.add_argument('--config', required=True,
                        help='training YAML (see config/train_T.yaml for every setting)')
    parser.add_argument('--output-dir', help='override output_dir (checkpoints, metrics.csv)')
    parser.add_argument('--max-steps', type=int, help='override max_steps')
    parser.add_argument('--max-minutes', type=float, help='override max_minutes')
    parser.add_argument('--device', help='cpu, cuda or cuda:N (default: cuda if available)')
    parser.add_argument('--no-resume', action='store_true',
                        help='start from scratch even if OUTPUT_DIR/last.pt exists')
    parser.add_argument('--export', metavar='SAFETENSORS',
                        help='after training, export the backbone here (with a model card)')
    parser.epilog = ('Multi-GPU: torchrun --nproc_per_node=N -m spikevim_ros.cli train '
                     '--config ...; CPU processes use gloo.')


def run(args: argparse.Namespace) -> int:
    """Train; return 0 on success."""
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s: %(message)s')
    from spikevim_ros.training.trainer import Trainer
    config = load_config(args.config, {'output_dir': args.output_dir,
                                       'max_steps': args.max_steps,
                                       'max_minutes': args.max_minutes})
    trainer = Trainer(config, args.device)
    checkpoint = trainer.fit(resume=not args.no_resume)
    if trainer.rank == 0:
        print(f'checkpoint: {checkpoint} (step {trainer.step})')
        if args.export:
            from spikevim_ros.training.export_cli import export_backbone
            card = export_backbone(checkpoint, Path(args.export),
                                   {'training_data': config.data})
            print(f'exported backbone: {args.export} ({card})')
    return 0
