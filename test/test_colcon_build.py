"""The package builds with colcon and installs what `ros2 run` and `ros2 launch` need."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns('.git', '.venv', 'build', 'install', 'log', 'runs', '__pycache__',
                              '*.egg-info', '.pytest_cache', 'demo_output')


@pytest.fixture(scope='module')
def installed(tmp_path_factory) -> Path:
    colcon = Path(sys.executable).with_name('colcon')
    if not colcon.exists():
        pytest.fail(f'colcon is not installed next to {sys.executable}')
    workspace = tmp_path_factory.mktemp('ws')
    shutil.copytree(REPO_ROOT, workspace / 'src' / 'spikevim_ros', ignore=SKIP)
    result = subprocess.run([str(colcon), 'build', '--base-paths', 'src'], cwd=workspace,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return workspace / 'install'


def test_install_tree_has_ament_files(installed):
    share = installed / 'spikevim_ros' / 'share'
    assert (share / 'ament_index' / 'resource_index' / 'packages' / 'spikevim_ros').is_file()
    assert (share / 'spikevim_ros' / 'package.xml').is_file()
    launch_files = {p.name for p in (share / 'spikevim_ros' / 'launch').glob('*.launch.py')}
    assert {p.name for p in (REPO_ROOT / 'launch').glob('*.launch.py')} <= launch_files
    configs = {p.name for p in (share / 'spikevim_ros' / 'config').glob('*.yaml')}
    assert {p.name for p in (REPO_ROOT / 'config').glob('*.yaml')} <= configs
    assert (share / 'spikevim_ros' / 'config' / 'fastdds_large_images.xml').is_file()


def test_console_scripts_in_lib_package_dir(installed):
    lib = installed / 'spikevim_ros' / 'lib' / 'spikevim_ros'
    for name in ('spikevim', 'localizer_node', 'fix_publisher'):
        assert (lib / name).is_file() and os.access(lib / name, os.X_OK), name


def test_share_directory_resolves_after_sourcing(installed):
    script = (f'source "{installed}/setup.bash" && "{sys.executable}" -c '
              '"from ament_index_python.packages import get_package_share_directory as g; '
              'print(g(\'spikevim_ros\'))"')
    result = subprocess.run(['bash', '-c', script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == installed / 'spikevim_ros' / 'share' / 'spikevim_ros'


def test_installed_cli_runs_from_the_install_tree(installed):
    script = f'source "{installed}/setup.bash" && spikevim_ros_cli=' \
             f'"{installed}/spikevim_ros/lib/spikevim_ros/spikevim" && "$spikevim_ros_cli" --help'
    result = subprocess.run(['bash', '-c', script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'localize' in result.stdout and 'simulate' in result.stdout
