"""Shared fixtures: real imagery, and DDS isolation for every test that starts ROS 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from netns_guard import isolation_problem  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / 'shared' / 'data'
# camera-sized images need the package's Fast DDS profile (scripts/netns_run.sh sets it too)
os.environ.setdefault('FASTRTPS_DEFAULT_PROFILES_FILE',
                      str(REPO_ROOT / 'config' / 'fastdds_large_images.xml'))


@pytest.fixture(scope='session')
def shared_data() -> Path:
    """Return the folder of real imagery that sits beside the checkout (../shared/data)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f'real imagery not found at {SHARED_DATA}')
    return SHARED_DATA


@pytest.fixture(scope='session', autouse=True)
def _refuse_participants_outside_private_namespace():
    """Make rclpy refuse to initialise when this process could leak DDS traffic."""
    problem = isolation_problem()
    if problem is None:
        yield
        return
    try:
        import rclpy
    except ImportError:
        yield
        return

    def refuse(*_args, **_kwargs):
        raise RuntimeError(problem)

    original = rclpy.init
    rclpy.init = refuse
    try:
        yield
    finally:
        rclpy.init = original


@pytest.fixture(scope='session')
def ros_isolated() -> None:
    """Fail (never skip) a ROS test that would run outside a private network namespace."""
    problem = isolation_problem()
    if problem is not None:
        pytest.fail(problem, pytrace=False)


@pytest.fixture
def rclpy_context(ros_isolated):
    """Initialise rclpy in a fresh context for one test and shut it down afterwards."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)


@pytest.fixture
def ros_process(ros_isolated):
    """Start package executables in child processes (same namespace); stop them afterwards."""
    started: list[subprocess.Popen] = []

    def start(module: str, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, '-m', module, *args], cwd=REPO_ROOT,
                                env=os.environ.copy(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
