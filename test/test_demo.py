"""``spikevim demo``: the README's first command, end to end on the shipped map (short run)."""

from __future__ import annotations

import json

from sim_scenarios import demo_gallery
from spikevim_ros.cli import main
from spikevim_ros.demo import DEMO_MAP, demo_faults


def test_demo_map_is_shipped_with_its_licence():
    assert (DEMO_MAP / 'LICENSE').is_file() and (DEMO_MAP / 'map_metadata.txt').is_file()
    assert 'shared' not in DEMO_MAP.parts


def test_demo_faults_leave_time_to_recover_before_the_jump():
    silence, jump = demo_faults(40.0)
    assert (silence.kind, silence.start_s, silence.end_s) == ('silence', 10.0, 50.0)
    assert jump.kind == 'jump' and jump.start_s - silence.end_s >= 5.0


def test_demo_runs_and_prints_where_everything_is(tmp_path_factory, tmp_path, capsys):
    gallery = demo_gallery(tmp_path_factory)
    out = tmp_path / 'demo_output'
    assert main(['demo', '--out', str(out), '--gallery', str(gallery), '--max-frames', '5',
                 '--no-progress']) == 0
    printed = capsys.readouterr().out
    for line in ('[2/3] simulating', 'denied frames with their own vision fix', 'report:',
                 'real time: measured processing time', 'dropped while busy',
                 'fix latency after the image stamp', 'same raster the gallery was cut from',
                 "in the demo weights' training data",
                 'track.png', 'error_over_time.png', 'error_cdf.png'):
        assert line in printed
    metrics = json.loads((out / 'replay' / 'metrics.json').read_text())
    assert metrics['frames'] == 5 and metrics['frames_in_bag'] == 81
    assert metrics['vision_error']['median_m'] < 10.5   # documented: 3.5 m (README)
    assert (out / 'flight_bag' / 'metadata.yaml').is_file()
    assert (out / 'replay' / 'report.md').read_text().count('.png)') == 3
