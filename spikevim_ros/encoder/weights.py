"""Checkpoint I/O: authors' ``.pth`` files, our safetensors + YAML model cards."""

import argparse
import contextlib
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Dict, Optional, Tuple

import safetensors
import safetensors.torch
import torch
import yaml
from torch import nn

from .backbone import VARIANTS

FORMAT_TAG = 'spikevim-encoder'
_PICKLE_MAGIC = (b'\x80', b'PK')
# The only non-tensor type the authors' training script pickles next to the weights (its
# command-line ``args``); everything else must pass torch's weights-only unpickler as is.
CHECKPOINT_SAFE_GLOBALS = (argparse.Namespace,)


def file_sha256(path: str, length: int = 16) -> str:
    """Return the first ``length`` hex digits of the sha256 of the file content."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def card_path(weights_path: str) -> Path:
    """Return the model-card path next to ``weights_path`` (same stem, ``.yaml``)."""
    return Path(weights_path).with_suffix('.yaml')


def infer_variant(state_dict: Dict[str, torch.Tensor]) -> Optional[str]:
    """Return the variant whose widths match ``state_dict`` (None if unknown)."""
    stem = state_dict.get('downsample1_1.encode_conv.weight')
    last = state_dict.get('downsample4.encode_conv.weight')
    if stem is None or last is None:
        return None
    for name, cfg in VARIANTS.items():
        if stem.shape[0] == cfg.widths[0] // 2 and last.shape[0] == cfg.widths[3]:
            return name
    return None


def _read_safetensors(path: Path) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    with open(path, 'rb') as f:
        head = f.read(2)
    if head.startswith(_PICKLE_MAGIC):
        raise ValueError(f'{path} is a pickle/torch.save file, not safetensors; convert it with '
                         'encoder.weights.save_weights or give it a .pth suffix')
    try:
        with safetensors.safe_open(str(path), framework='pt') as f:
            metadata = f.metadata() or {}
        return safetensors.torch.load_file(str(path)), metadata
    except Exception as exc:  # safetensors raises several private error types
        raise ValueError(f'cannot read safetensors file {path} (truncated or corrupt?): '
                         f'{exc}') from exc


def _load_error_reason(exc: Exception) -> str:
    """Return the line of a ``torch.load`` error that names the cause (e.g. the global)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [line for line in lines if 'Unsupported global' in line]
    return (named or lines or [type(exc).__name__])[0]


def _allow_checkpoint_globals():
    """Allow-list :data:`CHECKPOINT_SAFE_GLOBALS` for one load (torch >= 2.5; older: none)."""
    scoped = getattr(torch.serialization, 'safe_globals', None)
    return scoped(list(CHECKPOINT_SAFE_GLOBALS)) if scoped else contextlib.nullcontext()


def load_torch_checkpoint(path: str | Path, map_location='cpu'):
    """
    Return ``torch.load(path, weights_only=True)``; ValueError naming the file if refused.

    ``argparse.Namespace`` (the authors' training-script layout) is allow-listed for this call
    only with :func:`torch.serialization.safe_globals`; torch < 2.5, as on some JetPack
    releases, refuses that layout: load it once on a newer torch and save it with
    :func:`save_weights`.
    """
    try:
        with _allow_checkpoint_globals():
            return torch.load(str(path), map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: B902 - garbage makes torch raise almost any type
        raise ValueError(f'{path}: refused or unreadable checkpoint (weights_only=True: '
                         f'truncated, corrupt or holding objects other than tensors, '
                         f'containers and argparse.Namespace): {_load_error_reason(exc)}'
                         ) from exc


def _read_torch(path: Path) -> Dict[str, torch.Tensor]:
    """Read a state dict from a plain, ``model``/``state_dict``/``model_ema`` checkpoint."""
    obj = load_torch_checkpoint(path)
    for key in ('model', 'state_dict', 'model_ema'):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise ValueError(f'{path} does not contain a state_dict of tensors')
    return obj


def read_checkpoint(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Read a backbone state_dict and metadata; ``head.*`` and ``module.`` are stripped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'encoder weights not found: {path}')
    if path.suffix == '.safetensors':
        state, metadata = _read_safetensors(path)
    else:
        state, metadata = _read_torch(path), {}
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    return {k: v for k, v in state.items() if not k.startswith('head.')}, metadata


def check_state_dict(state: Dict[str, torch.Tensor], variant: str, source: str) -> None:
    """Raise ValueError for non-finite tensors or a checkpoint of another variant."""
    found = infer_variant(state)
    if found is not None and found != variant:
        raise ValueError(f'{source} holds variant {found} weights but the model is variant '
                         f'{variant}; build the encoder with variant={found!r}')
    for key, value in state.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ValueError(f'{source}: tensor {key!r} contains NaN or infinite values')


def _check_declared(declared: Dict, variant: str, backbone: nn.Module, source: str) -> None:
    """Compare variant/T/D declared in a card or metadata with the model."""
    checks = {'variant': variant, 'timesteps': backbone.timesteps, 'levels': backbone.levels}
    for key, expected in checks.items():
        if key in declared and str(declared[key]) != str(expected):
            raise ValueError(f'{source} declares {key}={declared[key]} but the model has '
                             f'{key}={expected}')


def load_weights(backbone: nn.Module, path: str, variant: str) -> str:
    """Load ``path`` into ``backbone`` (strict) after all checks; return the weights id."""
    state, metadata = read_checkpoint(path)
    if metadata:
        _check_declared(metadata, variant, backbone, f'{path} metadata')
    card = card_path(path)
    if card.is_file():
        _check_declared(yaml.safe_load(card.read_text()) or {}, variant, backbone,
                        f'model card {card}')
    check_state_dict(state, variant, str(path))
    try:
        backbone.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f'{path} does not match the variant {variant} backbone layout: '
                         f'{exc}') from exc
    return file_sha256(path)


def _code_version() -> str:
    try:
        out = subprocess.run(['git', 'describe', '--always', '--dirty'], capture_output=True,
                             text=True, cwd=Path(__file__).parent, timeout=5, check=True)
        return out.stdout.strip() or 'unknown'
    except (OSError, subprocess.SubprocessError):
        return 'unknown'


def save_weights(model: nn.Module, path: str, card: Optional[Dict] = None) -> Path:
    """
    Save an encoder's backbone as safetensors plus a YAML model card; return card path.

    ``card`` adds e.g. ``training_data`` and ``metrics``; variant, T, D, input size and
    descriptor dim are filled from the model and must agree with ``card`` if given there.
    """
    backbone = getattr(model, 'backbone', model)
    variant = getattr(model, 'variant', None) or infer_variant(backbone.state_dict())
    facts = {'variant': variant, 'timesteps': backbone.timesteps, 'levels': backbone.levels,
             'descriptor_dim': backbone.num_features, 'format': FORMAT_TAG}
    card = dict(card or {})
    _check_declared(card, variant, backbone, 'card')
    card.update(facts)
    card.setdefault('input_size', 384)
    card.setdefault('training_data', 'none')
    card.setdefault('metrics', {})
    card.setdefault('code_version', _code_version())
    state = {k: v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}
    check_state_dict(state, variant, 'model')
    path = Path(path)
    if path.suffix != '.safetensors':
        raise ValueError(f'weights path must end in .safetensors, got {path}')
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {k: str(v) for k, v in facts.items()}
    metadata['card'] = json.dumps(card, default=str)
    safetensors.torch.save_file(state, str(path), metadata=metadata)
    out = card_path(path)
    out.write_text(yaml.safe_dump(card, sort_keys=False))
    return out
