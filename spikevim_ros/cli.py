"""
The ``spikevim`` command line: one entry point, one subcommand per job.

Each subcommand lives in the module that does the work and exposes two functions,
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their
subcommand runs, so ``spikevim --help`` stays fast and ROS-free.

Errors: any exception a subcommand raises becomes one line on stderr naming the command and the
problem, and a non-zero exit status (130 for Ctrl-C). ``--debug`` anywhere on the command line,
or ``SPIKEVIM_DEBUG=1`` in the environment, shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
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

DEBUG_FLAG = '--debug'
DEBUG_ENV = 'SPIKEVIM_DEBUG'
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


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
                    'Run "spikevim COMMAND --help" for the options of a command.',
        epilog=f'{DEBUG_FLAG} (anywhere) or {DEBUG_ENV}=1: show the traceback of an error.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    parsers = {name: sub.add_parser(name, help=text, description=text, add_help=False)
               for name, (_, text) in SUBCOMMANDS.items()}
    return parser, parsers


def error_line(exc: BaseException) -> str:
    """Return one line describing ``exc``: the file and problem for OS errors, else the message."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return f'{exc.filename}: {exc.strerror or exc}'
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    ours = type(exc).__module__.startswith('spikevim_ros')
    if ours or isinstance(exc, (ValueError, OSError)):
        return text
    return f'{type(exc).__name__}: {text}'


def debug_requested(argv: list[str]) -> bool:
    """Return True when ``--debug`` is on the command line or SPIKEVIM_DEBUG is set."""
    return DEBUG_FLAG in argv or os.environ.get(DEBUG_ENV, '') not in ('', '0')


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
    """Run the ``spikevim`` command line; errors become one line on stderr and exit status 1."""
    argv = sys.argv[1:] if argv is None else argv
    debug = debug_requested(argv)
    argv = [arg for arg in argv if arg != DEBUG_FLAG]
    name = argv[0] if argv else ''
    try:
        args, module = parse(argv)
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print(f'spikevim {name}: interrupted', file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: B902 - the one place where any error becomes a message
        if debug:
            raise
        print(f'spikevim {name}: error: {error_line(exc)} (--debug shows the traceback)',
              file=sys.stderr)
        return EXIT_ERROR


if __name__ == '__main__':
    sys.exit(main())
