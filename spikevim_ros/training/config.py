"""Training configuration: a YAML file read with ``safe_load`` into :class:`TrainConfig`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from spikevim_ros.training.augment import build_augment
from spikevim_ros.training.losses import LossWeights

LR_SCHEDULES = ('constant', 'cosine')


@dataclass
class TrainConfig:
    """Everything a training run needs; every field can be set in the YAML file."""

    data: dict = field(default_factory=lambda: {'kind': 'university1652', 'root': 'data/U1652'})
    variant: str = 'T'
    init_weights: str | None = None
    image_size: int = 384
    batch_size: int = 64              # pairs per step, per process or in all (batch_scope)
    batch_scope: str = 'per_process'  # per_process | global (split over the processes)
    epochs: int = 5
    max_steps: int | None = None
    max_minutes: float | None = None
    lr: float = 1e-4
    lr_schedule: str = 'constant'     # constant | cosine (after a linear warmup)
    warmup_epochs: float = 0.0
    min_lr: float = 0.0
    grad_clip: float | None = None    # max global gradient L2 norm
    weight_decay: float = 0.01
    augmentation: str = 'none'        # none | dac
    ssa_form: str = 'paper'           # paper | mlla (SSA Eq. 17-18, docs/training.md)
    ssa_mlp_ratio: int = 4
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

    def per_process_batch(self, world: int) -> int:
        """Return the pairs per step of one process among ``world``."""
        if self.batch_scope == 'per_process':
            return self.batch_size
        if self.batch_scope != 'global':
            raise ValueError(f'batch_scope must be per_process or global, got '
                             f'{self.batch_scope!r}')
        if self.batch_size % world:
            raise ValueError(f'global batch_size {self.batch_size} does not split over '
                             f'{world} processes')
        return self.batch_size // world

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
    if config.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f'{path}: lr_schedule must be one of {LR_SCHEDULES}, got '
                         f'{config.lr_schedule!r}')
    config.per_process_batch(1)  # validates batch_scope
    build_augment(config.augmentation)
    return config


def scheduled_lr(step: int, total_steps: int, warmup_steps: int, base_lr: float,
                 min_lr: float = 0.0, schedule: str = 'cosine') -> float:
    """
    Return the learning rate of optimisation step ``step`` (0-based).

    ``cosine``: linear warmup from ``base_lr / warmup_steps`` to ``base_lr`` over the first
    ``warmup_steps`` steps, then half a cosine down to ``min_lr`` at ``total_steps``.
    """
    if schedule == 'constant':
        return base_lr
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * progress))
