"""The authors' ImageNet checkpoints in every known layout load safely into the paper configs."""

import argparse
from pathlib import Path

import pytest
import torch

from spikevim_ros.encoder import build_encoder
from spikevim_ros.encoder.backbone import create_backbone
from spikevim_ros.training.config import load_config
from spikevim_ros.training.model import CrossViewModel

REPO = Path(__file__).resolve().parents[1]
SENTINEL = Path('/tmp/spikevim_checkpoint_code_ran')


class _Payload:
    """Unpickling this would run code (touch a file): the loader must refuse it."""

    def __reduce__(self):
        return (SENTINEL.touch, ())


def _official_state(variant):
    state = create_backbone(variant, seed=7).state_dict()
    state['head.weight'] = torch.zeros(1000, state['downsample4.encode_conv.weight'].shape[0])
    state['head.bias'] = torch.zeros(1000)
    return state


def _layouts(state):
    """Each layout a checkpoint of E-SpikeFormer is found in."""
    module = {f'module.{k}': v for k, v in state.items()}
    args = argparse.Namespace(model='Efficient_Spiking_Transformer_m', lr=6e-4, input_size=224,
                              output_dir='/out', clip_grad=None, dist_eval=True)
    return {'plain': state,
            'model_key': {'model': state, 'epoch': 199},
            'module_prefix': module,
            'model_key_module_prefix': {'model': module},
            'authors_training_script': {
                'model': state, 'optimizer': {'state': {}, 'param_groups': []},
                'epoch': 199, 'scaler': {'scale': 65536.0}, 'args': args}}


@pytest.mark.parametrize('layout', ['plain', 'model_key', 'module_prefix',
                                    'model_key_module_prefix', 'authors_training_script'])
def test_every_official_layout_loads(layout, tmp_path):
    state = _official_state('T')
    path = tmp_path / f'{layout}.pth'
    torch.save(_layouts(state)[layout], path)
    encoder = build_encoder('T', str(path), runtime='eager')
    loaded = encoder.backbone.state_dict()
    assert set(loaded) == {k for k in state if not k.startswith('head.')}
    assert all(torch.equal(loaded[k], state[k]) for k in loaded)


def test_paper_configs_initialise_from_the_official_checkpoint(tmp_path):
    for variant in ('T', 'S'):
        config = load_config(REPO / f'config/train_{variant}_paper.yaml')
        assert config.variant == variant and config.init_weights.endswith('.pth')
        state = _official_state(variant)
        path = tmp_path / Path(config.init_weights).name
        torch.save(_layouts(state)['authors_training_script'], path)
        model = CrossViewModel(variant, num_classes=3, weights=str(path))
        key = 'block4.1.mlp.fc2_conv.weight'
        assert torch.equal(model.backbone.state_dict()[key], state[key])


def test_a_checkpoint_with_other_objects_is_refused_without_running_them(tmp_path):
    SENTINEL.unlink(missing_ok=True)
    path = tmp_path / 'evil.pth'
    torch.save({'model': _official_state('T'), 'extra': _Payload()}, path)
    with pytest.raises(ValueError, match='weights_only=True.*Unsupported global'):
        build_encoder('T', str(path))
    assert not SENTINEL.exists()
    # the allow-list is scoped to the load: it does not leak into torch's global state
    assert argparse.Namespace not in torch.serialization.get_safe_globals()
