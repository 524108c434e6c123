"""Tests of encoder weight files, ONNX export, int8 runtime and the energy report."""

import argparse
import json

import numpy as np
import pytest
import torch

from spikevim_ros.encoder import build_encoder, energy, load_image, preprocess, save_weights
from spikevim_ros.encoder.backbone import create_backbone
from spikevim_ros.encoder.onnx_export import check_onnx, export_onnx
from spikevim_ros.georaster import load_rasters


@pytest.fixture(scope='module')
def encoder_t():
    return build_encoder('T', runtime='eager')


def test_save_load_roundtrip_with_card(encoder_t, tmp_path):
    path = tmp_path / 'enc_T.safetensors'
    card = save_weights(encoder_t, path, {'training_data': 'unit test', 'metrics': {'r1': 0.5}})
    assert card.name == 'enc_T.yaml' and 'variant: T' in card.read_text()
    loaded = build_encoder('T', str(path), runtime='eager')
    assert len(loaded.weights_id) == 16 and loaded.weights_id != encoder_t.weights_id
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), encoder_t(x))
    with pytest.raises(ValueError, match='variant=T but the model has variant=S'):
        build_encoder('S', str(path))
    card.unlink()
    with pytest.raises(ValueError, match='metadata declares variant=T'):
        build_encoder('S', str(path))
    other = tmp_path / 'other.pth'
    torch.save(encoder_t.backbone.state_dict(), other)
    with pytest.raises(ValueError, match='variant T weights but the model is variant S'):
        build_encoder('S', str(other))


def test_official_pth_checkpoint_loads(tmp_path):
    state = create_backbone('S', seed=3).state_dict()
    state['head.weight'] = torch.zeros(1000, 360)
    state['head.bias'] = torch.zeros(1000)
    path = tmp_path / 'V3_19.0M_1x4.pth'
    torch.save({'model': state, 'epoch': 1}, path)
    encoder = build_encoder('S', str(path), runtime='eager')
    assert torch.equal(encoder.backbone.block4[1].mlp.fc2_conv.weight,
                       state['block4.1.mlp.fc2_conv.weight'])


def test_bad_weight_files(encoder_t, tmp_path):
    state = create_backbone('T').state_dict()
    state['block3.0.attn.q_conv.0.weight'][0, 0] = float('nan')
    nan_path = tmp_path / 'nan.pth'
    torch.save(state, nan_path)
    with pytest.raises(ValueError, match='NaN'):
        build_encoder('T', str(nan_path))
    pickle_path = tmp_path / 'pickled.safetensors'
    torch.save(state, pickle_path)
    with pytest.raises(ValueError, match='pickle'):
        build_encoder('T', str(pickle_path))
    good = tmp_path / 'good.safetensors'
    save_weights(encoder_t, good)
    truncated = tmp_path / 'truncated.safetensors'
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(ValueError, match='truncated'):
        build_encoder('T', str(truncated))
    del state['block4.1.mlp.fc2_bn.bias']
    state['block3.0.attn.q_conv.0.weight'].zero_()
    missing = tmp_path / 'missing.pth'
    torch.save(state, missing)
    with pytest.raises(ValueError, match='fc2_bn.bias'):
        build_encoder('T', str(missing))


def test_onnx_export_matches_pytorch(encoder_t, shared_data, tmp_path):
    path = export_onnx(encoder_t, tmp_path / 'enc.onnx', size=128)
    x = load_image(shared_data / 'aero_vloc' / 'queries' / '0.jpg', 128)
    assert check_onnx(path, encoder_t, x) > 0.999


def test_int8_engine_keeps_descriptors_and_retrieval(shared_data):
    """
    Spike-exact int8 (demo weights, 384 px): cosine >= 0.999, same ranking of unseen tiles.

    The tiles come from an orthophoto held out of both training and calibration.
    """
    ortho = load_rasters(shared_data / 'orthophotos' / 'riotiler_pix4d_bali_0.35m.tif')[0].image
    corners = [(y, x) for y in (200, 500) for x in (100, 290, 480)]
    gallery = torch.cat([preprocess(ortho[y:y + 200, x:x + 200], size=384) for y, x in corners])
    queries = torch.cat([preprocess(np.rot90(ortho[y + 25:y + 175, x + 25:x + 175]).copy(),
                                    size=384) for y, x in corners[::2]])
    photos = sorted((shared_data / 'caliterra' / 'images').glob('*.jpg'))[:12:6]
    held_out = torch.cat([load_image(p, 384) for p in photos])
    fp32 = build_encoder('T', 'demo', runtime='fast')
    int8 = build_encoder('T', 'demo', runtime='int8')
    assert int8.runtime == 'int8' and int8.engine.path.endswith('encoder_int8.onnx')
    with torch.no_grad():
        ref = [fp32(batch) for batch in (gallery, queries, held_out)]
        out = [int8(batch) for batch in (gallery, queries, held_out)]
    for a, b in zip(ref, out):
        assert (a * b).sum(1).min() > 0.999
    ranks_fp32 = (ref[1] @ ref[0].T).argsort(1, descending=True)[:, :3]
    ranks_int8 = (out[1] @ out[0].T).argsort(1, descending=True)[:, :3]
    assert torch.equal(ranks_fp32, ranks_int8)


def test_energy_cli_reports_paper_macs(shared_data, tmp_path):
    parser = argparse.ArgumentParser()
    energy.add_arguments(parser)
    out = tmp_path / 'energy.json'
    args = parser.parse_args(['--variant', 'T', '--images', str(shared_data / 'caliterra'),
                              '--max-images', '1', '--json', str(out)])
    assert energy.run(args) == 0
    report = json.loads(out.read_text())
    assert abs(report['macs_paper_order'] / 1e9 - 14.27) < 0.01
    assert 0.0 < report['mean_rate_count'] < report['mean_rate_nonzero'] < 1.0
    assert 0.0 < report['energy_snn_mj'] < report['energy_ann_mj']
    stem = report['layers'][0]
    assert stem['name'] == 'downsample1_1.encode_conv' and stem['sops'] == 0.0
