"""Names for the weights a user can ask for without a path: the shipped demo weights or none."""

from pathlib import Path
from typing import Optional

DEMO = 'demo'
UNTRAINED = ('none', '')
DEMO_FILE = 'spikevimformer_t_demo.safetensors'


def models_dir() -> Path:
    """Return the folder with the shipped weights (source tree, or the installed share)."""
    source_tree = Path(__file__).resolve().parents[2] / 'models'
    if (source_tree / DEMO_FILE).is_file():
        return source_tree
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory('spikevim_ros')) / 'models'
    except (ImportError, LookupError):
        return source_tree


def resolve_weights(spec: Optional[str]) -> Optional[str]:
    """
    Turn a weights option into a file path, or None for the deterministic untrained init.

    ``"demo"`` is the shipped SpikeViMFormer-T demo model; ``"none"``, ``""`` or None mean no
    weights; anything else is a path to a ``.safetensors`` (or the authors' ``.pth``) file.
    """
    if spec is None or spec in UNTRAINED:
        return None
    if spec == DEMO:
        path = models_dir() / DEMO_FILE
        if not path.is_file():
            raise FileNotFoundError(f'the shipped demo weights are missing: {path}')
        return str(path)
    return spec
