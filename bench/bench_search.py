"""
Gallery search latency and recall@1 against exact search, with and without a prior region.

Descriptors are random unit vectors of 240-d drawn around clustered centres (so approximate
indexes face realistic neighbourhoods); queries are noisy copies of gallery rows
(``--query-noise`` per dimension: 0.03 gives a cosine of ~0.9 to the source row, like a frame
against its own tile). For each size and index kind: build time, measured index memory (bytes of
the serialised index, per million tiles), and for each search setting (``--nprobe`` for IVF-PQ,
``--ef-search`` for HNSW) the median query latency and recall@1 against exact inner-product
search, for the whole gallery and for a prior region of ``--region`` tiles (``Gallery.search``
subset path).

Example::

    python bench/bench_search.py --sizes 10000 100000 1000000 --out /tmp/bench_search.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import faiss
import numpy as np

from spikevim_ros.gallery import index as search_index


def descriptors(count: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``count`` clustered L2-normalised descriptors."""
    centres = rng.normal(size=(max(1, count // 100), dim)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), count)] + \
        0.7 * rng.normal(size=(count, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def timed_search(index, queries, subset=None) -> tuple[np.ndarray, float]:
    """Return top-1 ids and the median latency (ms) of one-query searches."""
    ids, times = [], []
    for q in queries:
        start = time.perf_counter()
        found, _ = search_index.search(index, q[None], 1, subset)
        times.append((time.perf_counter() - start) * 1000.0)
        ids.append(found[0, 0])
    return np.array(ids), float(np.median(times))


def search_settings(index, kind: str, nprobes: list[int], ef_searches: list[int]):
    """Yield (setting name, value) after applying each search setting to the index."""
    inner = faiss.downcast_index(index)
    if kind == 'ivfpq':
        for nprobe in nprobes:
            inner.nprobe = min(nprobe, inner.nlist)
            yield 'nprobe', inner.nprobe
    elif kind == 'hnsw':
        for ef in ef_searches:
            inner.hnsw.efSearch = ef
            yield 'efSearch', ef
    else:
        yield 'exact', None


def main() -> int:
    """Run the benchmark over the requested sizes, kinds and search settings."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', type=int, nargs='+', default=[10_000, 100_000])
    parser.add_argument('--kinds', nargs='+', default=['flat', 'ivfpq', 'hnsw'])
    parser.add_argument('--queries', type=int, default=200)
    parser.add_argument('--query-noise', type=float, default=0.03,
                        help='per-dimension noise added to the gallery rows used as queries')
    parser.add_argument('--nprobe', type=int, nargs='+', default=[8, 16, 32, 64],
                        help='IVF-PQ lists scanned per query (one row each)')
    parser.add_argument('--ef-search', type=int, nargs='+', default=[16, 64, 128, 256],
                        help='HNSW efSearch values (one row each)')
    parser.add_argument('--hnsw-max', type=int, default=200_000,
                        help='skip HNSW above this many tiles (its build is slow on small CPUs)')
    parser.add_argument('--region', type=int, default=2000, help='tiles in the prior region')
    parser.add_argument('--dim', type=int, default=240)
    parser.add_argument('--out', help='write the results as JSON here')
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for count in args.sizes:
        x = descriptors(count, args.dim, rng)
        picks = rng.integers(0, count, args.queries)
        noise = args.query_noise * rng.normal(size=(args.queries, args.dim))
        queries = (x[picks] + noise.astype(np.float32))
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        others = rng.choice(count, min(args.region, count), replace=False)
        region = np.unique(np.concatenate([picks, others]))[:max(args.region, args.queries)]
        exact = faiss.IndexFlatIP(args.dim)
        exact.add(x)
        truth, exact_ms = timed_search(exact, queries)
        truth_region, _ = timed_search(exact, queries, region)
        for kind in args.kinds:
            if kind == 'hnsw' and count > args.hnsw_max:
                continue
            start = time.perf_counter()
            index = search_index.build_index(x, kind)
            build_s = time.perf_counter() - start
            memory = faiss.serialize_index(index).nbytes
            for setting, value in search_settings(index, kind, args.nprobe, args.ef_search):
                found, ms = timed_search(index, queries)
                found_region, region_ms = timed_search(index, queries, region)
                row = {'tiles': count, 'kind': kind, setting: value,
                       'build_s': round(build_s, 2),
                       'mb_per_million': round(memory / count * 1e6 / 2 ** 20, 1),
                       'latency_ms': round(ms, 3),
                       'recall_at_1': float((found == truth).mean()),
                       'region_tiles': len(region), 'region_latency_ms': round(region_ms, 3),
                       'region_recall_at_1': float((found_region == truth_region).mean()),
                       'speed_vs_exact': round(exact_ms / ms, 2)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
