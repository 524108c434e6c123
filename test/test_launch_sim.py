"""
``sim_gnss_denied.launch.py`` without Gazebo: a simulated bag played into the localizer.

The launch plays a ``spikevim simulate`` bag (camera, GNSS with an outage, autopilot topics,
/clock) with ``spikevim play`` and runs ``localize.launch.py`` with simulated time; the test
checks vision fixes on the in-flight path replace the GNSS during the outage, then stops the
launch with SIGINT.
"""

from __future__ import annotations

import pytest

rclpy = pytest.importorskip('rclpy')
import launch_ros  # noqa: E402, F401  (a missing launch system fails, never skips)

from launch_runner import REPO, LaunchProcess, ament_prefix  # noqa: E402
from ros_feeder import Feeder, diagnostic  # noqa: E402
from sim_scenarios import demo_gallery, loiter_flight  # noqa: E402
from spikevim_ros.sim.gnss_model import GnssFault  # noqa: E402

LAUNCH_FILE = REPO / 'launch' / 'sim_gnss_denied.launch.py'


@pytest.fixture
def feeder(rclpy_context):
    feeder = Feeder(rclpy_context)
    yield feeder
    feeder.close()


def test_sim_launch_plays_a_bag_into_the_localizer(feeder, ros_isolated, tmp_path,
                                                   tmp_path_factory):
    gallery = demo_gallery(tmp_path_factory)
    loiter_flight(tmp_path / 'bag', 16.0, (GnssFault('silence', 4.0, 10.0),), seed=2)
    launch = LaunchProcess(LAUNCH_FILE, {'bag': str(tmp_path / 'bag'),
                                         'gallery_dir': str(gallery), 'weights': 'none'},
                           ament_prefix(tmp_path / 'prefix'), tmp_path / 'ros_log')
    try:
        def finished(name: str) -> bool:
            return any(name in line and 'process has finished cleanly' in line
                       for line in launch.lines)
        assert feeder.spin_until(lambda: finished('bag_player') or launch.proc.poll()
                                 is not None, 300.0), launch.output
        feeder.spin_for(3.0)                     # the last frame's fix
        assert launch.proc.poll() is None, launch.output
        assert finished('bag_player'), launch.output
        fixes, selected = feeder.received['fix'], feeder.received['fix_selected']
        # real time on a loaded 2-core CPU: frames arriving during inference are replaced
        assert len(fixes) >= 3, launch.output
        vision = [m for m in selected if m.header.frame_id != 'gnss']   # while denied
        assert vision, [m.header.frame_id for m in selected]
        values = {v.key: v.value for v in diagnostic(feeder, 'inference').values}
        assert values['search_path'] == 'in_flight', values
        assert launch.interrupt() == 0, launch.output
        assert finished('localizer_node'), launch.output
    finally:
        launch.stop()
