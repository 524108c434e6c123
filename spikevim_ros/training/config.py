"""Training configuration: a YAML file read with ``safe_load`` into :class:`TrainConfig`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from spikevim_ros.training.losses import LossWeights


@dataclass
class TrainConfig:
    """Everything a training run needs; every field can be set in the YAML file."""

    data: dict = field(default_factory=lambda: {'kind': 'university1652', 'root': 'data/U1652'})
    variant: str = 'T'
    init_weights: str | None = None
    image_size: int = 384
    batch_size: int = 64              # pairs per step and per process
    epochs: int = 5
    max_steps: int | None = None
    max_minutes: float | None = None
    lr: float = 1e-4
    weight_decay: float = 0.01
    amp: str = 'auto'                 # auto: bf16 autocast on CUDA, off on CPU; 'bf16' / 'off'
    memory_batches: int = 4           # HRAL memory queue length, in (gathered) batches
    losses: dict = field(default_factory=dict)
    output_dir: str = 'runs/train_T'
    checkpoint_every: int = 50
    log_every: int = 1
    num_workers: int = 2
    threads: int | None = None
    seed: int = 0

    @property
    def loss_weights(self) -> LossWeights:
        """Return the loss weights of the ``losses`` section."""
        return LossWeights(**self.losses)

    def to_dict(self) -> dict:
        """Return a plain dict (YAML/checkpoint friendly)."""
        return asdict(self)


def load_config(path: str | Path, overrides: dict | None = None) -> TrainConfig:
    """Read a training YAML; unknown keys are an error naming them."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'training config {path} does not exist')
    raw = yaml.safe_load(path.read_text()) or {}
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f'{path}: unknown training settings {unknown}; known: {sorted(known)}')
    config = TrainConfig(**raw)
    config.loss_weights  # validates the losses section
    return config
