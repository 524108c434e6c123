"""
Run every benchmark with its default size and collect the JSON results in one folder.

Each benchmark reports ratios against a baseline measured in the same run, because this kind of
machine is noisy. The node latency benchmark starts DDS participants, so it runs inside the
private loopback-only network namespace (scripts/netns_run.sh).

    make bench                      # all of them, results in bench_results/
    make bench BENCH_ARGS="--only encoder hral"
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BENCHMARKS = {
    'encoder': (['bench/bench_encoder.py'], False),
    'hral': (['bench/bench_hral.py'], False),
    'search': (['bench/bench_search.py', '--sizes', '10000', '100000'], False),
    'localize': (['bench/bench_localize.py', '--frames', '6'], False),
    'node_latency': (['bench/bench_node_latency.py', '--frames', '5'], True),
    'cross_date': (['bench/bench_cross_date.py'], False),
    'covariance_scale': (['bench/bench_covariance_scale.py'], False),
    'coarse_spread': (['bench/bench_coarse_spread.py'], False),
    'kidnapped': (['bench/bench_kidnapped.py'], False),
    'image_transport': (['bench/bench_image_transport.py'], True),
}


def main() -> int:
    """Run the selected benchmarks; return non-zero if any failed."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--only', nargs='+', choices=sorted(BENCHMARKS), default=None,
                        help='benchmarks to run (default: all)')
    parser.add_argument('--out', type=Path, default=ROOT / 'bench_results',
                        help='folder for the JSON results (default: bench_results/)')
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in args.only or list(BENCHMARKS):
        script, needs_netns = BENCHMARKS[name]
        command = [sys.executable, *script, '--out', str(args.out / f'{name}.json')]
        if needs_netns:
            command = [str(ROOT / 'scripts' / 'netns_run.sh'), *command]
        print(f'== {name}: {" ".join(command)}', flush=True)
        started = time.monotonic()
        if subprocess.run(command, cwd=ROOT).returncode != 0:
            failed.append(name)
        print(f'== {name}: {time.monotonic() - started:.0f} s', flush=True)
    print(f'results in {args.out}' + (f'; FAILED: {failed}' if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
