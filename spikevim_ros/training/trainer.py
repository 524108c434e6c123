"""
The training loop: AdamW, lr schedule, gradient clipping, bf16, DDP, resume, CSV + TensorBoard.

One process, one GPU or ``torchrun`` (DistributedDataParallel; gloo on CPU). The HRAL memory
queue and the InfoNCE negatives are gathered across ranks.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from spikevim_ros.training import distributed as dist_utils
from spikevim_ros.training.augment import build_augment
from spikevim_ros.training.config import TrainConfig, scheduled_lr
from spikevim_ros.training.datasets import (ConcatPairs, CrossDateView, CsvPairs, PairTensors,
                                            SUES200, SyntheticCrossView, University1652,
                                            ViewSampling, unique_label_batches)
from spikevim_ros.training.losses import total_loss
from spikevim_ros.training.model import CrossViewModel

LOG = logging.getLogger('spikevim.train')
CHECKPOINT = 'last.pt'


def build_source(data: dict, image_size: int):
    """Return the pair source described by the config's ``data`` section."""
    kind = data.get('kind')
    if kind == 'university1652':
        return University1652(data['root']).train()
    if kind == 'sues200':
        return SUES200(data['root']).train(int(data['altitude']))
    if kind == 'csv':
        return CsvPairs(data['path'])
    if kind == 'synthetic':
        return SyntheticCrossView.from_sources(
            data['sources'], size=image_size, spacing=float(data.get('spacing', 0.75)),
            views_per_location=int(data.get('views_per_location', 1)),
            seed=int(data.get('seed', 0)))
    if kind == 'crossdate':
        sampling = ViewSampling(**data.get('sampling', {}))
        return CrossDateView.from_paths(
            data['dates'], [float(s) for s in data['tile_sides_m']], size=image_size,
            sampling=sampling, spacing=float(data.get('spacing', 0.75)),
            views_per_location=int(data.get('views_per_location', 1)),
            seed=int(data.get('seed', 0)))
    if kind == 'mixed':
        return ConcatPairs([build_source(part, image_size) for part in data['parts']])
    raise ValueError('data.kind must be university1652, sues200, csv, synthetic, crossdate or '
                     f'mixed; got {kind!r}')


def autocast_context(amp: str | bool, device: torch.device):
    """Return the autocast context for the ``amp`` setting (YAML off/on read as bools)."""
    amp = {False: 'off', True: 'bf16'}.get(amp, amp) if isinstance(amp, bool) else amp
    if amp not in ('auto', 'bf16', 'off'):
        raise ValueError(f'amp must be auto, bf16 or off; got {amp!r}')
    use = amp == 'bf16' or (amp == 'auto' and device.type == 'cuda')
    if not use:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


class MetricsLog:
    """Append training metrics to ``metrics.csv`` and, if available, TensorBoard."""

    def __init__(self, output_dir: Path) -> None:
        self.path = output_dir / 'metrics.csv'
        self.fields: list[str] | None = None
        self.writer = None
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(output_dir / 'tensorboard'))
        except ImportError:
            LOG.info('tensorboard is not installed: metrics go to %s only', self.path)

    def write(self, row: dict) -> None:
        """Write one row (``step`` plus scalars)."""
        if self.fields is None:
            self.fields = list(row)
            new = not self.path.exists()
            self._file = open(self.path, 'a', newline='')
            self._csv = csv.DictWriter(self._file, self.fields, extrasaction='ignore')
            if new:
                self._csv.writeheader()
        self._csv.writerow(row)
        self._file.flush()
        if self.writer is not None:
            for name, value in row.items():
                if name != 'step':
                    self.writer.add_scalar(name, value, row['step'])

    def close(self) -> None:
        """Close the files and plot the loss curves to ``losses.png``."""
        if self.fields is not None:
            self._file.close()
        if self.writer is not None:
            self.writer.close()
        if self.path.exists():
            plot_losses(self.path, self.path.with_name('losses.png'))


def plot_losses(metrics_csv: Path, out_png: Path) -> None:
    """Plot every loss column of ``metrics.csv`` against the step."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    with open(metrics_csv, newline='') as f:
        rows = list(csv.DictReader(f))
    steps = [int(r['step']) for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name in ('total', 'infonce', 'shs', 'ssa', 'hral'):
        if rows and name in rows[0]:
            ax.plot(steps, [float(r[name]) for r in rows], label=name, linewidth=1)
    ax.set_xlabel('step')
    ax.set_ylabel('loss')
    ax.set_yscale('log')
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


class Trainer:
    """Train a :class:`CrossViewModel` from a :class:`TrainConfig`."""

    def __init__(self, config: TrainConfig, device: str | None = None) -> None:
        self.config = config
        if config.threads:
            torch.set_num_threads(int(config.threads))
        device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
        dist_utils.init_from_env(device)
        if device == 'cuda':
            device = f'cuda:{dist_utils.rank() % torch.cuda.device_count()}'
        self.device = torch.device(device)
        self.rank, self.world = dist_utils.rank(), dist_utils.world_size()
        torch.manual_seed(config.seed)
        self.source = build_source(config.data, config.image_size)
        self.batch_size = config.per_process_batch(self.world)
        self.dataset = PairTensors(self.source, config.image_size,
                                   build_augment(config.augmentation), config.seed)
        self.model = CrossViewModel(config.variant, self.source.num_classes,
                                    config.init_weights, ssa_form=config.ssa_form,
                                    ssa_mlp_ratio=config.ssa_mlp_ratio).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.net = self.model
        if self.world > 1:
            ids = [self.device.index] if self.device.type == 'cuda' else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.output_dir = Path(config.output_dir)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.schedule = self.schedule_steps()
        self.memory: collections.deque = collections.deque(maxlen=max(config.memory_batches, 0)
                                                           or None)

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """Return this rank's batches of an epoch (same count on every rank)."""
        rng = np.random.default_rng([self.config.seed, epoch])
        batches = unique_label_batches(self.source.labels, self.batch_size, rng)
        per_rank = len(batches) // self.world
        if per_rank == 0:
            raise ValueError(f'dataset of {len(self.source)} pairs gives no full batch of '
                             f'{self.batch_size} per process on {self.world} processes')
        return batches[self.rank * per_rank:(self.rank + 1) * per_rank]

    def schedule_steps(self) -> tuple[int, int]:
        """Return (total steps, warmup steps) of the learning-rate schedule."""
        per_epoch = len(self.epoch_batches(0))
        total = self.config.epochs * per_epoch
        if self.config.max_steps is not None:
            total = min(total, self.config.max_steps)
        return total, int(round(self.config.warmup_epochs * per_epoch))

    def save_checkpoint(self) -> Path:
        """Write ``last.pt`` atomically (rank 0 only) and return its path."""
        path = self.output_dir / CHECKPOINT
        if self.rank == 0:
            tmp = path.with_suffix('.tmp')
            torch.save({'model': self.model.state_dict(),
                        'optimizer': self.optimizer.state_dict(),
                        'step': self.step, 'epoch': self.epoch,
                        'batch_in_epoch': self.batch_in_epoch,
                        'num_classes': self.source.num_classes,
                        'variant': self.model.variant,
                        'config': self.config.to_dict()}, tmp)
            tmp.replace(path)
        return path

    def resume(self) -> bool:
        """Load ``last.pt`` from the output folder if present; return whether it did."""
        path = self.output_dir / CHECKPOINT
        if not path.is_file():
            return False
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state['model'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.step, self.epoch = int(state['step']), int(state['epoch'])
        self.batch_in_epoch = int(state['batch_in_epoch'])
        LOG.info('resumed from %s at step %d (epoch %d)', path, self.step, self.epoch)
        return True

    def _memory(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not self.memory:
            return None
        return (torch.cat([q for q, _ in self.memory]), torch.cat([g for _, g in self.memory]))

    def _should_stop(self, started: float) -> bool:
        """Agree across ranks whether the step or time budget is spent."""
        cfg = self.config
        stop = cfg.max_steps is not None and self.step >= cfg.max_steps
        if cfg.max_minutes is not None:
            stop = stop or (time.time() - started) / 60.0 >= cfg.max_minutes
        flag = torch.tensor([float(stop)])
        if self.world > 1:
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return bool(flag.item())

    def train_step(self, drone: torch.Tensor, satellite: torch.Tensor, labels: torch.Tensor
                   ) -> dict[str, float]:
        """Run one optimisation step and return the logged loss parts."""
        self.net.train()
        with autocast_context(self.config.amp, self.device):
            out_d, out_s = self.net(drone.to(self.device), satellite.to(self.device))
        out_d = {k: v.float() for k, v in out_d.items()}
        out_s = {k: v.float() for k, v in out_s.items()}
        loss, log = total_loss(out_d, out_s, labels.to(self.device), self.model.logit_scale,
                               self.config.loss_weights, self._memory())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            log['grad_norm'] = float(norm)
        lr = scheduled_lr(self.step, *self.schedule, self.config.lr, self.config.min_lr,
                          self.config.lr_schedule)
        for group in self.optimizer.param_groups:
            group['lr'] = lr
        log['lr'] = lr
        self.optimizer.step()
        if self.memory.maxlen:
            self.memory.append((dist_utils.gather_detached(out_d['descriptor']),
                                dist_utils.gather_detached(out_s['descriptor'])))
        return log

    def fit(self, resume: bool = True) -> Path:
        """Train until the epochs, ``max_steps`` or ``max_minutes`` run out; return last.pt."""
        cfg = self.config
        if self.rank == 0:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self.resume()
        metrics = MetricsLog(self.output_dir) if self.rank == 0 else None
        started = time.time()
        stopped = False
        while self.epoch < cfg.epochs and not stopped:
            if hasattr(self.source, 'epoch'):
                self.source.epoch = self.epoch
            batches = self.epoch_batches(self.epoch)[self.batch_in_epoch:]
            self.dataset.epoch = self.epoch
            loader = torch.utils.data.DataLoader(self.dataset, batch_sampler=batches,
                                                 num_workers=cfg.num_workers)
            bar = tqdm(loader, desc=f'epoch {self.epoch + 1}/{cfg.epochs}',
                       disable=self.rank != 0, dynamic_ncols=True)
            for drone, satellite, labels in bar:
                tic = time.time()
                log = self.train_step(drone, satellite, labels)
                self.step += 1
                self.batch_in_epoch += 1
                log['images_per_s'] = 2 * len(labels) * self.world / (time.time() - tic)
                bar.set_postfix(loss=f'{log["total"]:.3f}', nce=f'{log["infonce"]:.3f}')
                if metrics is not None and self.step % cfg.log_every == 0:
                    metrics.write({'step': self.step, 'epoch': self.epoch, **log})
                if self.step % cfg.checkpoint_every == 0:
                    self.save_checkpoint()
                if self._should_stop(started):
                    stopped = True
                    break
            if not stopped:
                self.epoch += 1
                self.batch_in_epoch = 0
        path = self.save_checkpoint()
        if metrics is not None:
            metrics.close()
        return path
