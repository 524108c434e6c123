"""The GPU smoke script, run tiny on the CPU: trains the paper config, exports, evaluates."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_gpu_smoke_script_runs_tiny_on_cpu(tmp_path):
    out = tmp_path / 'smoke.json'
    proc = subprocess.run(
        [sys.executable, 'scripts/gpu_smoke.py', '--device', 'cpu', '--steps', '3',
         '--image-size', '32', '--batch', '4', '--train-locations', '6', '--test-locations',
         '4', '--distractors', '2', '--views', '2', '--workers', '0', '--workdir',
         str(tmp_path / 'work'), '--out', str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report['device'] == 'cpu' and report['train']['steps'] == 3
    assert report['train']['images_per_s'] > 0 and report['evaluate']['images_per_s'] > 0
    assert report['train']['peak_rss_mb'] > 100
    assert set(report['evaluate']['r1_drone_to_satellite']) == {'none', 'backbone.safetensors'}
    with open(tmp_path / 'work/train/metrics.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    # 6 locations x 2 views in batches of 4 distinct locations: 3 steps per epoch, so warmup
    # 0.1 epoch rounds to 0 steps and the cosine over 3 steps gives lr (1 + cos(pi s / 3)) / 2
    assert [float(r['lr']) for r in rows] == pytest.approx([1e-4, 0.75e-4, 0.25e-4])
    assert all(float(r['grad_norm']) > 0 for r in rows)
