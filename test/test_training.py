"""End-to-end training on synthetic views of a real orthophoto: CLI, resume, export, DDP."""

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
import yaml

from spikevim_ros import cli
from spikevim_ros.encoder import build_encoder, preprocess
from spikevim_ros.training.losses import info_nce

REPO = Path(__file__).resolve().parents[1]


def write_config(path, shared_data, output_dir, **extra):
    config = {
        'data': {'kind': 'synthetic', 'views_per_location': 2, 'sources': [
            {'path': str(shared_data / 'orthophotos/riotiler_colorado_hro_0.15m.tif'),
             'tile_side_m': 14}]},
        'image_size': 64, 'batch_size': 4, 'epochs': 1, 'max_steps': 2, 'amp': 'off',
        'memory_batches': 2, 'losses': {'hral_k': 3}, 'output_dir': str(output_dir),
        'checkpoint_every': 1, 'num_workers': 0, 'threads': 1, **extra}
    path.write_text(yaml.safe_dump(config))
    return path


def read_rows(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def test_train_resume_and_export(shared_data, tmp_path):
    out = tmp_path / 'run'
    config = write_config(tmp_path / 'train.yaml', shared_data, out)
    assert cli.main(['train', '--config', str(config)]) == 0
    rows = read_rows(out / 'metrics.csv')
    assert [r['step'] for r in rows] == ['1', '2']
    assert (out / 'losses.png').stat().st_size > 1000
    assert all(np.isfinite(float(r['total'])) and float(r['infonce']) > 0 for r in rows)
    assert cli.main(['train', '--config', str(config), '--max-steps', '3']) == 0
    state = torch.load(out / 'last.pt', weights_only=True)
    assert state['step'] == 3 and len(read_rows(out / 'metrics.csv')) == 3
    weights, half = tmp_path / 'backbone.safetensors', tmp_path / 'half.safetensors'
    assert cli.main(['export', str(out / 'last.pt'), str(weights)]) == 0
    assert cli.main(['export', str(out / 'last.pt'), str(half), '--fp16']) == 0
    card = yaml.safe_load(weights.with_suffix('.yaml').read_text())
    assert card['training_input_size'] == 64 and card['training_steps'] == 3
    assert card['variant'] == 'T' and card['input_size'] == 384
    assert half.stat().st_size < 0.6 * weights.stat().st_size
    assert build_encoder('T', str(half), runtime='eager').weights_id != 'random-init-seed0'
    image = preprocess(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8),
                       size=64)
    trained = build_encoder('T', str(weights), runtime='eager')
    untrained = build_encoder('T', runtime='eager')
    from spikevim_ros.training.model import CrossViewModel
    model = CrossViewModel('T', num_classes=state['model']['classifier.net.4.bias'].shape[0])
    model.load_state_dict(state['model'])
    model.eval()
    with torch.no_grad():
        expected = F.normalize(model.backbone.forward_features(image).mean((2, 3)), dim=1)
        got, before = trained(image), untrained(image)
    assert float((got * expected).sum()) > 0.9999
    assert not torch.allclose(got, before, atol=1e-4)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _gather_worker(rank, port, drone, satellite, result):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    part = slice(rank * 3, rank * 3 + 3)
    d = drone[part].clone().requires_grad_()
    loss = info_nce(d, satellite[part], torch.tensor(1.0))
    loss.backward()
    result[rank] = float(loss)
    dist.destroy_process_group()


def test_infonce_negatives_come_from_all_ranks():
    torch.manual_seed(0)
    drone = F.normalize(torch.randn(6, 8), dim=1)
    satellite = F.normalize(drone + 0.5 * torch.randn(6, 8), dim=1)
    result = mp.Manager().dict()
    mp.spawn(_gather_worker, args=(_free_port(), drone, satellite, result), nprocs=2)
    scale = torch.tensor(1.0).exp()
    targets = torch.arange(6)
    per_row = 0.5 * (F.cross_entropy(scale * drone @ satellite.T, targets, reduction='none')
                     + F.cross_entropy(scale * satellite @ drone.T, targets, reduction='none'))
    for rank in range(2):
        assert result[rank] == pytest.approx(float(per_row[rank * 3:rank * 3 + 3].mean()),
                                             rel=1e-5)


def test_torchrun_two_cpu_processes(shared_data, tmp_path):
    out = tmp_path / 'ddp'
    config = write_config(tmp_path / 'ddp.yaml', shared_data, out, max_steps=1)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={_free_port()}', '-m', 'spikevim_ros.cli', 'train', '--config',
         str(config)], cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = torch.load(out / 'last.pt', weights_only=True)
    assert state['step'] == 1
    rows = read_rows(out / 'metrics.csv')
    assert len(rows) == 1 and np.isfinite(float(rows[0]['total']))


def test_evaluate_cli_on_a_synthetic_heldout_set(shared_data, tmp_path):
    out = tmp_path / 'eval.json'
    raster = shared_data / 'orthophotos/riotiler_colorado_hro_0.15m.tif'
    assert cli.main(['evaluate', '--synthetic', str(raster), '--tile-side', '14', '--views', '2',
                     '--render-size', '64', '--data', str(tmp_path / 'set'), '--sizes', '64',
                     '--runtime', 'eager', '--rerank', '--keep-patches', '--out',
                     str(out)]) == 0
    rows = yaml.safe_load(out.read_text())
    # 2 directions x (1 + 10 keep settings) x (plain, re-ranked) x 2 protocols x 2 APs
    assert len(rows) == 2 * 11 * 2 * 2 * 2
    assert {r['keep_ratio'] for r in rows} == {None, 0.2, 0.4, 0.6, 0.8, 1.0}
    assert {r['protocol'] for r in rows} == {'university1652', 'sample4geo'}
    assert all(0.0 <= r['R@1'] <= r['R@5'] <= r['R@10'] <= 100.0 for r in rows)
    assert (tmp_path / 'set/test/query_drone').is_dir()
    assert '| weights |' in out.with_suffix('.md').read_text()
