"""Process-group helpers: rank/world queries and feature gathering across ranks."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """Return True inside an initialised multi-process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """Return the rank of this process (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Return the number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def init_from_env(device: str) -> bool:
    """Initialise the process group when launched by torchrun; return whether it did."""
    if int(os.environ.get('WORLD_SIZE', '1')) <= 1 or dist.is_initialized():
        return is_distributed()
    backend = 'nccl' if device.startswith('cuda') else 'gloo'
    dist.init_process_group(backend=backend)
    return True


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from all ranks; gradients flow back to each rank's part."""
    if not is_distributed():
        return tensor
    from torch.distributed.nn.functional import all_gather
    return torch.cat(all_gather(tensor))


@torch.no_grad()
def gather_detached(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from all ranks without gradient (memory queues)."""
    if not is_distributed():
        return tensor.detach()
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.detach().contiguous())
    return torch.cat(parts)
