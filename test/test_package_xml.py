"""package.xml declares a rosdep key for every third-party module the package imports."""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# import name -> rosdep key (ROS packages by name; Python ones by their rosdep python3-* key,
# pip-only ones by the python3-*-pip key).
ROSDEP_KEYS = {
    'rclpy': 'rclpy', 'rcl_interfaces': 'rcl_interfaces',
    'builtin_interfaces': 'builtin_interfaces', 'sensor_msgs': 'sensor_msgs',
    'std_msgs': 'std_msgs', 'nav_msgs': 'nav_msgs', 'diagnostic_msgs': 'diagnostic_msgs',
    'diagnostic_updater': 'diagnostic_updater', 'lifecycle_msgs': 'lifecycle_msgs',
    'rosgraph_msgs': 'rosgraph_msgs', 'launch': 'launch', 'launch_ros': 'launch_ros',
    'ament_index_python': 'ament_index_python',
    'numpy': 'python3-numpy', 'cv2': 'python3-opencv', 'yaml': 'python3-yaml',
    'matplotlib': 'python3-matplotlib', 'tqdm': 'python3-tqdm', 'pyproj': 'python3-pyproj',
    'rasterio': 'python3-rasterio', 'torch': 'python3-torch',
    'faiss': 'python3-faiss-pip', 'safetensors': 'python3-safetensors-pip',
    'rosbags': 'python3-rosbags-pip', 'onnx': 'python3-onnx-pip',
    'onnxruntime': 'python3-onnxruntime-pip',
}
# Imported only when a feature that needs them is switched on; each use says so when missing.
OPTIONAL = {'cv_bridge': 'faster image conversion', 'mavros_msgs': 'mavros_gps_input: true',
            'serial': 'nmea_device on a serial port (pyserial)',
            'mcap': 'replaying a damaged MCAP bag up to the damage (pip: mcap, core.txt)'}


def imported_modules() -> set[str]:
    """Return the top-level third-party modules imported by the package and its launch files."""
    names: set[str] = set()
    files = [*(REPO / 'spikevim_ros').rglob('*.py'), *(REPO / 'launch').glob('*.py')]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split('.')[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split('.')[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != 'spikevim_ros'}


def declared(tag: str) -> list[str]:
    """Return the keys of the package.xml elements named ``tag``."""
    root = ElementTree.parse(REPO / 'package.xml').getroot()
    return [element.text.strip() for element in root.findall(tag)]


def test_every_import_has_a_declared_rosdep_key():
    imports = imported_modules()
    unknown = imports - set(ROSDEP_KEYS) - set(OPTIONAL)
    assert not unknown, f'imported but without a rosdep key in this test: {sorted(unknown)}'
    keys = set(declared('exec_depend'))
    missing = {ROSDEP_KEYS[n] for n in imports if n in ROSDEP_KEYS} - keys
    assert not missing, f'package.xml lacks <exec_depend> for {sorted(missing)}'
    unused = keys - {ROSDEP_KEYS[n] for n in imports if n in ROSDEP_KEYS}
    assert not unused, f'package.xml declares keys nothing imports: {sorted(unused)}'


def test_no_duplicate_dependencies():
    for tag in ('exec_depend', 'test_depend', 'depend'):
        keys = declared(tag)
        assert len(keys) == len(set(keys)), tag
