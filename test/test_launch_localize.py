"""
Run localize.launch.py with launch_testing (ROS CI only: launch is not installable here).

The launch starts the node against a small gallery with autostart; the test waits until the node
reports that it is active. Like every ROS test it must run in a private network namespace.
"""

from __future__ import annotations

import sys
import tempfile
import unittest
from pathlib import Path

import pytest

launch_testing = pytest.importorskip('launch_testing')
launch_ros = pytest.importorskip('launch_ros')

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fallback_world import build_small_gallery  # noqa: E402
from netns_guard import isolation_problem  # noqa: E402

LAUNCH_FILE = Path(__file__).resolve().parents[1] / 'launch' / 'localize.launch.py'


@pytest.mark.launch_test
def generate_test_description():
    """Build a small gallery, then launch the node with autostart."""
    from launch import LaunchDescription
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    from spikevim_ros.encoder import build_encoder

    problem = isolation_problem()
    if problem is not None:
        raise RuntimeError(problem)
    root = Path(tempfile.mkdtemp(prefix='spikevim_launch_'))
    build_small_gallery(root, build_encoder('T'))
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
        launch_arguments={'gallery_dir': str(root / 'gallery'), 'autostart': 'true',
                          'params_file': str(LAUNCH_FILE.parents[1] / 'config' /
                                             'localize.yaml')}.items())
    return LaunchDescription([include, launch_testing.actions.ReadyToTest()])


class TestLocalizerLaunch(unittest.TestCase):
    """The launched node configures and activates itself."""

    def test_node_becomes_active(self, proc_output):
        proc_output.assertWaitFor('configured: gallery', timeout=180)
        proc_output.assertWaitFor('active', timeout=60)
