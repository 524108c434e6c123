"""``spikevim evaluate`` streams: resident memory stays small on a 2,000-image U1652 set."""

import json
import subprocess
import sys
from pathlib import Path

from spikevim_ros.training.synthetic_layout import write_synthetic_university1652

REPO = Path(__file__).resolve().parents[1]
MEASURE = '''
import resource, sys
from spikevim_ros import cli
rc = cli.main(sys.argv[1:])
print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(rc)
'''


def test_evaluate_streams_2000_images_under_2_gb(tmp_path):
    # 180 locations x (4 + 4 drone + 1 + 1 satellite) + 40 distractors x (4 + 1) = 2,000 images
    data = write_synthetic_university1652(tmp_path / 'u1652', 0, 180, views=4, distractors=40,
                                          size=48)
    assert sum(1 for _ in (data / 'test').rglob('*.jpg')) == 2000
    out = tmp_path / 'eval.json'
    proc = subprocess.run(
        [sys.executable, '-c', MEASURE, 'evaluate', '--data', str(data), '--sizes', '32',
         '--device', 'cpu', '--workers', '0', '--batch', '64', '--out', str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={'PYTHONPATH': str(REPO), 'OMP_NUM_THREADS': '1', 'PATH': '/usr/bin:/bin'})
    assert proc.returncode == 0, proc.stderr[-3000:]
    peak_mb = int(proc.stdout.split('PEAK_RSS_KB')[-1]) / 1024
    print(f'peak RSS of spikevim evaluate on 2,000 images: {peak_mb:.0f} MiB')
    assert peak_mb < 2048
    rows = json.loads(out.read_text())
    # both directions x both protocols x both AP definitions, side by side in the table
    assert len(rows) == 2 * 2 * 2
    by = {(r['split'], r['protocol'], r['ap']): r for r in rows}
    drone = by[('drone->', 'university1652', 'standard')]
    assert drone['R@1'] > 100.0 / 220 * 3     # far above chance on the distractor gallery
    # the distractors are in the gallery for one protocol only
    assert by[('drone->', 'sample4geo', 'standard')]['R@1'] >= drone['R@1']
    table = out.with_suffix('.md').read_text()
    assert 'university1652 R@1' in table and 'sample4geo R@1' in table
