"""Implausible inputs cost bounded time, and every CLI error is one line with an honest exit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from fallback_world import ALTITUDE_AGL, CAMERA, build_small_gallery, crop_raster, view
from spikevim_ros.camera import PinholeCamera
from spikevim_ros.cli import main
from spikevim_ros.localization import Localizer
from spikevim_ros.localization.types import LocalizerConfig, Prior

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    """Return a localizer over a small gallery, the gallery folder and one view written as PNG."""
    from spikevim_ros.encoder import build_encoder

    root = tmp_path_factory.mktemp('hardening')
    encoder = build_encoder('T', weights=None, runtime='auto')
    gallery = build_small_gallery(root, encoder)
    image, _, _ = view(crop_raster(root), 10.0, -5.0)
    path = root / 'view.png'
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return Localizer(gallery, encoder), gallery.directory, image, path


def run_cli(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'spikevim_ros.cli', *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1',
                               **(env or {})})


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize('altitude, camera, words', [
    (1e9, CAMERA, 'height above ground 1e+09 m is outside'),
    (-3.0, CAMERA, 'height above ground -3 m'),
    (float('nan'), CAMERA, 'height above ground is non-finite'),
    (ALTITUDE_AGL, PinholeCamera(320, 240, 1e-3, 1e-3, 160, 120), 'horizontal field of view'),
    (ALTITUDE_AGL, PinholeCamera(320, 240, 300, 300, 5000, 120), 'principal point'),
    (ALTITUDE_AGL, PinholeCamera(10 ** 6, 240, 300, 300, 160, 120), 'camera width'),
])
def test_implausible_altitude_or_camera_is_refused_quickly(world, altitude, camera, words):
    localizer, _, image, _ = world
    started = time.perf_counter()
    result = localizer.localize(image, None, altitude, camera)
    assert time.perf_counter() - started < 5.0
    assert not result.fix and 'implausible input' in result.reason and words in result.reason


def test_prior_radius_out_of_range_is_refused(world):
    localizer, _, image, _ = world
    result = localizer.localize(image, Prior(55.0, 38.0, 1e9), ALTITUDE_AGL, CAMERA)
    assert not result.fix and 'prior radius 1e+09 m is outside' in result.reason


def test_map_resampling_at_a_huge_ground_distance_is_bounded(world):
    raster = world[0].gallery.raster(0)
    min_e, min_n, max_e, max_n = raster.bounds_en()
    scale = 32.0 / max(max_e - min_e, max_n - min_n)      # the map covers half of the view
    en_to_dst = np.array([[scale, 0.0, 32.0 - scale * (min_e + max_e) / 2.0],
                          [0.0, -scale, 32.0 + scale * (min_n + max_n) / 2.0], [0, 0, 1.0]])
    started = time.perf_counter()
    image, valid = raster.view(en_to_dst, (64, 64), blur_to_gsd=1e6)
    assert time.perf_counter() - started < 1.0
    assert image.shape == (64, 64, 3) and 200 < valid.sum() < 64 * 64


def test_frame_budget_stops_the_search_after_one_window_and_says_so(world):
    localizer, _, image, _ = world
    strict = Localizer(localizer.gallery, localizer.encoder,
                       LocalizerConfig(reacquire_budget_s=0.0, retrieval_fallback=False))
    noise = np.random.default_rng(1).integers(0, 256, image.shape, dtype=np.uint8)
    result = strict.localize(noise, None, ALTITUDE_AGL, CAMERA)   # no prior: through the encoder
    assert result.encoder_ran and len(result.windows_aligned) == 1   # one window, then stop
    assert not result.fix and 'frame budget of 0 s reached' in result.reason
    assert result.timings_ms['total'] < 5000.0
    strict.config.frame_budget_s = 0.0               # in a prior window: the other budget
    tile = localizer.gallery.tiles[0]
    result = strict.localize(noise, Prior(tile.lat, tile.lon, 50.0))   # scale searched too
    assert not result.encoder_ran
    assert not result.fix and 'frame budget of 0 s reached' in result.reason
    # shutting down: the frame in progress stops at its next check, the first window included
    strict.config.reacquire_budget_s = 60.0
    strict.cancel()
    result = strict.localize(noise, None, ALTITUDE_AGL, CAMERA)
    assert not result.fix and 'frame budget' in result.reason
    assert result.timings_ms['coarse'] + result.timings_ms['refine'] < 100.0


def test_cli_altitude_1e9_fails_fast_with_one_line(world):
    _, gallery, _, image = world
    started = time.perf_counter()
    result = run_cli('localize', str(image), '--gallery', str(gallery), '--weights', 'none',
                     '--altitude', '1e9', '--hfov', '60')
    assert time.perf_counter() - started < 30.0    # interpreter start-up included
    assert result.returncode == 1 and result.stdout == ''
    lines = error_lines(result)
    assert len(lines) == 1 and '--altitude (height above ground) 1e+09 m' in lines[0]


@pytest.mark.parametrize('option, value, words', [
    ('--hfov', '0', '--hfov (horizontal field of view) 0 deg is outside 1..170'),
    ('--hfov', 'nan', '--hfov (horizontal field of view) is non-finite'),
])
def test_cli_bad_numbers_name_the_option(world, capsys, option, value, words):
    _, gallery, _, image = world
    code = main(['localize', str(image), '--gallery', str(gallery), '--weights', 'none',
                 option, value])
    err = capsys.readouterr().err
    assert code == 1 and words in err and len(err.strip().splitlines()) == 1


def test_localize_exits_non_zero_when_an_input_fails(world, tmp_path, capsys):
    _, gallery, _, image = world
    (tmp_path / 'broken.png').write_bytes(b'not a png')
    code = main(['localize', str(image), str(tmp_path / 'broken.png'), '--gallery',
                 str(gallery), '--weights', 'none'])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 1 and len(lines) == 2 and '"fix": false' in lines[1]
    assert main(['localize', str(image), '--gallery', str(gallery), '--weights', 'none']) == 0


class Payload:
    """An arbitrary object: torch.load(weights_only=True) must refuse to build it."""


def test_pickle_checkpoint_and_unwritable_out_are_one_line_errors(world, tmp_path):
    _, gallery, _, _ = world
    evil = tmp_path / 'evil.pt'
    torch.save({'model': Payload()}, evil)
    result = run_cli('export', str(evil), str(tmp_path / 'out.safetensors'))
    lines = error_lines(result)
    assert result.returncode == 1 and len(lines) == 1 and str(evil) in lines[0]
    garbage = tmp_path / 'garbage.pth'
    garbage.write_text('root:x:0:0:root:/root:/bin/bash\n')
    result = run_cli('energy', '--weights', str(garbage))
    lines = error_lines(result)
    assert result.returncode == 1 and len(lines) == 1 and str(garbage) in lines[0]
    blocker = tmp_path / 'file'
    blocker.write_text('')
    result = run_cli('gallery', 'build', str(ROOT / 'spikevim_ros/data/demo_map'), '--out',
                     str(blocker / 'gallery'), '--weights', 'none')
    lines = error_lines(result)
    assert result.returncode != 0 and len(lines) == 1 and str(blocker) in lines[0]
    assert 'Traceback' not in result.stderr + result.stdout


def test_debug_flag_and_environment_show_the_traceback(world):
    _, gallery, _, image = world
    argv = ('localize', str(image), '--gallery', str(gallery), '--hfov', '0')
    assert 'Traceback' in run_cli(*argv, '--debug').stderr
    assert 'Traceback' in run_cli(*argv, env={'SPIKEVIM_DEBUG': '1'}).stderr
    assert 'Traceback' not in run_cli(*argv).stderr
