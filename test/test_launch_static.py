"""Static checks of localize.launch.py, the params file and the console scripts (no launch)."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from spikevim_ros.ros.parameters import PARAMETERS

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / 'launch' / 'localize.launch.py'
REQUIRED_ARGUMENTS = {'use_sim_time', 'params_file', 'namespace', 'image_topic',
                      'camera_info_topic', 'gnss_topic', 'imu_topic', 'rangefinder_topic',
                      'altitude_topic', 'odom_topic', 'gallery_dir', 'weights', 'autostart',
                      'log_level'}


def launch_tree() -> ast.Module:
    return ast.parse(LAUNCH.read_text(), filename=str(LAUNCH))


def declared_arguments(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == 'ARGUMENTS':
            return [item.elts[0].value for item in node.value.elts]
    raise AssertionError('ARGUMENTS table not found in the launch file')


def function(tree: ast.Module, name: str) -> ast.FunctionDef:
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)


def string_constants(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


def test_every_required_argument_is_declared_once_and_used():
    tree = launch_tree()
    names = declared_arguments(tree)
    assert len(names) == len(set(names))
    assert set(names) == REQUIRED_ARGUMENTS
    setup = function(tree, '_launch_setup')
    unused = set(names) - string_constants(setup)
    assert not unused, f'declared but never read: {unused}'
    generate = function(tree, 'generate_launch_description')
    declares = [n for n in ast.walk(generate) if isinstance(n, ast.Call)
                and getattr(n.func, 'id', '') == 'DeclareLaunchArgument']
    assert declares, 'generate_launch_description declares no argument'


def test_executable_is_a_console_script_with_a_main():
    tree = launch_tree()
    node_call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                     and getattr(n.func, 'id', '') == 'LifecycleNode')
    keywords = {k.arg: k.value.value for k in node_call.keywords
                if isinstance(k.value, ast.Constant)}
    assert keywords['package'] == 'spikevim_ros'
    setup = ast.parse((ROOT / 'setup.py').read_text())
    scripts = [n.value for n in ast.walk(setup) if isinstance(n, ast.Constant)
               and isinstance(n.value, str) and '=' in n.value and ':' in n.value]
    entry = {s.split('=')[0].strip(): s.split('=')[1].strip() for s in scripts}
    target = entry[keywords['executable']]
    module, _, func = target.partition(':')
    source = ROOT / (module.replace('.', '/') + '.py')
    assert func in {n.name for n in ast.parse(source.read_text()).body
                    if isinstance(n, ast.FunctionDef)}


def test_params_file_has_exactly_the_declared_parameters_with_code_defaults():
    document = yaml.safe_load((ROOT / 'config' / 'localize.yaml').read_text())
    assert list(document) == ['/**']
    values = document['/**']['ros__parameters']
    assert set(values) == {spec.name for spec in PARAMETERS}
    for spec in PARAMETERS:
        assert type(values[spec.name]) is type(spec.default), spec.name
        assert values[spec.name] == spec.default, spec.name
        assert spec.problem(spec.default) is None, spec.name


def test_params_file_is_installed_where_the_launch_file_looks():
    setup = (ROOT / 'setup.py').read_text()
    assert "glob('config/*.yaml')" in setup and "glob('launch/*.launch.py')" in setup
    assert {'config', 'localize.yaml'} <= string_constants(launch_tree())


def test_every_parameter_is_documented():
    doc = (ROOT / 'docs' / 'node.md').read_text()
    missing = [spec.name for spec in PARAMETERS if f'`{spec.name}`' not in doc]
    assert not missing, f'parameters missing from docs/node.md: {missing}'
