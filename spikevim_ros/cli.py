"""
The ``spikevim`` command line: one entry point, one subcommand per job.

Each subcommand lives in the module that does the work and exposes two functions,
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their
subcommand runs, so ``spikevim --help`` stays fast and ROS-free.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    'demo': ('spikevim_ros.demo',
             'build the demo gallery, simulate a GNSS-denied flight, replay it, report'),
    'gallery': ('spikevim_ros.gallery.cli', 'build or inspect a geo-referenced tile gallery'),
    'localize': ('spikevim_ros.localization.cli', 'localize images against a gallery (JSON)'),
    'simulate': ('spikevim_ros.sim.cli', 'simulate a flight and write a ROS 2 bag'),
    'replay': ('spikevim_ros.replay.cli',
               'evaluate the pipeline on a ROS 2 bag, in real time or offline'),
    'play': ('spikevim_ros.ros.play', 'publish a bag into a live ROS 2 graph with /clock'),
    'energy': ('spikevim_ros.encoder.energy', 'per-layer MACs, firing rates and energy'),
    'train': ('spikevim_ros.training.train_cli', 'train the encoder (SSA, SHS, HRAL)'),
    'evaluate': ('spikevim_ros.training.evaluate_cli',
                 'retrieval metrics on University-1652 / SUES-200 style data'),
    'export': ('spikevim_ros.training.export_cli',
               'export a backbone-only safetensors file with its model card'),
}


# Values such as "-700,-1400" (east,north) are values, not options: argparse only knows plain
# negative numbers. No spikevim option starts with "-<digit>", so nothing is ambiguous.
_NEGATIVE_VALUE = re.compile(r'^-\.?\d')


def number_list(text: str) -> list[float]:
    """Parse "200" or "150,200" (an option value listing numbers), the argparse way."""
    try:
        values = [float(v) for v in text.split(',')]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f'expected numbers separated by commas, got '
                                         f'{text!r}') from exc
    return values


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """Build the top-level parser; subcommand options are added lazily."""
    parser = argparse.ArgumentParser(
        prog='spikevim',
        description='Spike-driven visual geo-localization for GNSS-denied drones. '
                    'Run "spikevim COMMAND --help" for the options of a command.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    parsers = {name: sub.add_parser(name, help=text, description=text, add_help=False)
               for name, (_, text) in SUBCOMMANDS.items()}
    return parser, parsers


def parse(argv: list[str]) -> tuple[argparse.Namespace, object]:
    """Return the parsed arguments and the subcommand's module (argparse exits on errors)."""
    parser, parsers = build_parser()
    if not argv or argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv)  # prints help or the error and exits
        raise SystemExit(2)
    name = argv[0]
    module = importlib.import_module(SUBCOMMANDS[name][0])
    sub_parser = parsers[name]
    sub_parser.add_argument('-h', '--help', action='help', help='show this help and exit')
    module.add_arguments(sub_parser)
    sub_parser._negative_number_matcher = _NEGATIVE_VALUE
    return parser.parse_args(argv), module


def main(argv: list[str] | None = None) -> int:
    """Run the ``spikevim`` command line."""
    argv = sys.argv[1:] if argv is None else argv
    args, module = parse(argv)
    return int(module.run(args) or 0)


if __name__ == '__main__':
    sys.exit(main())
