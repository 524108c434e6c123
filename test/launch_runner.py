"""
Run a launch file the way ``ros2 launch`` does, and a minimal ament prefix to find the package.

``python launch_runner.py FILE name:=value ...`` includes FILE in a ``LaunchService`` with the
arguments and runs it until SIGINT (not a test module). :func:`ament_prefix` writes what
``LifecycleNode(package='spikevim_ros', executable=...)`` and ``FindPackageShare`` look up: the
package marker in the ament index, the executables under ``lib/spikevim_ros`` (wrappers around
this checkout's console scripts) and ``share/spikevim_ros/{launch,config}``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXECUTABLES = {'localizer_node': 'spikevim_ros.ros.localizer_node',
               'spikevim': 'spikevim_ros.cli'}


def ament_prefix(root: Path) -> Path:
    """Write a prefix for the spikevim_ros package under ``root`` and return it."""
    marker = root / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'spikevim_ros'
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text('')
    share = root / 'share' / 'spikevim_ros'
    share.mkdir(parents=True, exist_ok=True)
    for folder in ('launch', 'config'):
        (share / folder).symlink_to(REPO / folder)
    lib = root / 'lib' / 'spikevim_ros'
    lib.mkdir(parents=True, exist_ok=True)
    for name, module in EXECUTABLES.items():
        script = lib / name
        script.write_text(f'#!{sys.executable}\nimport sys\nfrom {module} import main\n'
                          'sys.exit(main())\n')
        script.chmod(0o755)
    return root


class LaunchProcess:
    """A launch file running through LaunchService in a child process; its output collected."""

    def __init__(self, launch_file: Path, arguments: dict[str, str], prefix: Path,
                 log_dir: Path) -> None:
        env = dict(os.environ, AMENT_PREFIX_PATH=str(prefix), ROS_LOG_DIR=str(log_dir),
                   PYTHONUNBUFFERED='1',
                   PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]))
        self.proc = subprocess.Popen(
            [sys.executable, __file__, str(launch_file),
             *(f'{name}:={value}' for name, value in arguments.items())],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        """Return everything the launch printed so far."""
        return ''.join(self.lines)

    def interrupt(self, timeout: float = 60.0) -> int:
        """Send SIGINT (Ctrl-C) and return the exit code once the launch has shut down."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5.0)
        return code

    def stop(self) -> None:
        """Kill the launch and its children if still running (test teardown)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def main(argv: list[str]) -> int:
    """Include the launch file with ``name:=value`` arguments and run it (like ros2 launch)."""
    from launch import LaunchDescription, LaunchService
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import AnyLaunchDescriptionSource

    path, *pairs = argv
    arguments = [tuple(pair.split(':=', 1)) for pair in pairs]
    service = LaunchService(argv=pairs)
    service.include_launch_description(LaunchDescription([IncludeLaunchDescription(
        AnyLaunchDescriptionSource(path), launch_arguments=arguments)]))
    return service.run()


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
