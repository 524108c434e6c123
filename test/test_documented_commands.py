"""Every ``spikevim ...`` command line shown in README.md and docs/ parses verbatim."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from spikevim_ros.cli import parse

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]


def documented_commands() -> list[tuple[str, str]]:
    """Return (where, command) for each spikevim line in the documents' code blocks."""
    found = []
    for document in DOCUMENTS:
        lines = document.read_text().splitlines()
        in_block, i = False, 0
        while i < len(lines):
            line = lines[i].strip()
            i += 1
            if line.startswith('```'):
                in_block = not in_block
                continue
            line = re.sub(r'^\$\s+|^\d+\.\s+', '', line)
            if not in_block or not line.startswith('spikevim '):
                continue
            where = f'{document.name}:{i}'
            while line.endswith('\\') and i < len(lines):
                line = line[:-1] + ' ' + lines[i].strip()
                i += 1
            found.append((where, line))
    return found


def as_argv(command: str) -> list[str]:
    """Split a documented command; a synopsis's [optional] parts and ellipses are dropped."""
    command = command.split(' #')[0]
    command = re.sub(r'\[[^\]]*\]', '', command).replace('...', '')
    return shlex.split(command)[1:]


def test_the_documents_show_commands():
    assert len(documented_commands()) >= 15


@pytest.mark.parametrize('where,command', documented_commands())
def test_documented_command_parses(where, command):
    try:
        parse(as_argv(command))
    except SystemExit as exc:
        pytest.fail(f'{where}: "{command}" does not parse (exit {exc.code})')


def test_negative_coordinates_and_several_tile_sides_parse():
    args, _ = parse(['simulate', 'map.tif', 'out', '--path', 'waypoints', '--waypoints',
                     '-700,-1400', '100,-200', '--centre', '-220,0'])
    assert args.waypoints == [(-700.0, -1400.0), (100.0, -200.0)] and args.centre == (-220, 0)
    args, _ = parse(['gallery', 'build', '--out', 'g', '--tile-side', '150,200', 'a.tif'])
    assert args.tile_side == [150.0, 200.0] and args.sources == ['a.tif']
    with pytest.raises(SystemExit):
        parse(['gallery', 'build', '--out', 'g', '--tile-side', '150,x', 'a.tif'])


def test_node_parameter_table_in_the_docs_is_current():
    from spikevim_ros.ros.parameters import markdown_table

    assert markdown_table() in (REPO / 'docs' / 'node.md').read_text(), \
        'docs/node.md: paste spikevim_ros.ros.parameters.markdown_table() over its table'
