"""
Descriptor search: exact inner product, IVF-PQ or HNSW, optionally restricted to a subset.

Memory per million 240-d tiles (descriptors only; the tile table adds ~0.2 GB per million):

* ``flat``: 4 bytes x 240 = 960 MB (exact).
* ``ivfpq``: ``pq_bytes`` (default 30) + 8-byte id = ~38 MB plus the coarse centroids.
* ``hnsw``: 960 MB of vectors plus ~2 x M x 4 bytes of links (M=32: ~256 MB) = ~1.2 GB.
"""

from __future__ import annotations

import math

import faiss
import numpy as np

INDEX_KINDS = ('flat', 'ivfpq', 'hnsw')


def choose_kind(count: int, kind: str = 'auto') -> str:
    """Return the index kind for ``count`` tiles: exact below 50k tiles, IVF-PQ above."""
    if kind == 'auto':
        return 'flat' if count < 50_000 else 'ivfpq'
    if kind not in INDEX_KINDS:
        raise ValueError(f'index kind must be one of {INDEX_KINDS} or "auto", got {kind!r}')
    return kind


IVF_NPROBE = 32          # lists scanned per query (recall/latency trade-off, bench_search.py)
HNSW_EF_SEARCH = 128     # HNSW candidate list per query


def build_index(descriptors: np.ndarray, kind: str = 'auto', pq_bytes: int = 30,
                hnsw_links: int = 32) -> faiss.Index:
    """
    Build an inner-product index over L2-normalised descriptors [N, D].

    IVF-PQ uses about sqrt(N) lists trained on a sample of 64 per list (at least 20k), and
    scans ``IVF_NPROBE`` of them per query; HNSW searches with ``HNSW_EF_SEARCH``. Both
    settings are stored in the index file.
    """
    x = np.ascontiguousarray(descriptors, dtype=np.float32)
    count, dim = x.shape
    kind = choose_kind(count, kind)
    if kind == 'flat':
        index = faiss.IndexFlatIP(dim)
    elif kind == 'hnsw':
        index = faiss.IndexHNSWFlat(dim, hnsw_links, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        if dim % pq_bytes:
            raise ValueError(f'descriptor dim {dim} is not divisible by pq_bytes {pq_bytes}')
        lists = max(1, min(int(math.sqrt(count)), count // 39))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, lists, pq_bytes, 8, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = x[rng.choice(count, size=min(count, max(64 * lists, 20_000)), replace=False)]
        index.train(sample)
        index.nprobe = min(lists, IVF_NPROBE)
    index.add(x)
    return index


def index_kind(index: faiss.Index) -> str:
    """Return the kind name of a loaded index."""
    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexFlat):
        return 'flat'
    if isinstance(inner, faiss.IndexHNSW):
        return 'hnsw'
    if isinstance(inner, faiss.IndexIVF):
        return 'ivfpq'
    return type(inner).__name__


def search(index: faiss.Index, query: np.ndarray, k: int,
           subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """
    Return (ids, scores) of the ``k`` best tiles for one or more queries [Q, D].

    ``subset`` (tile ids) restricts the search, e.g. to a prior region; ids are -1 where fewer
    than ``k`` tiles qualify.
    """
    q = np.ascontiguousarray(np.atleast_2d(query), dtype=np.float32)
    if subset is None:
        scores, ids = index.search(q, k)
        return ids, scores
    subset = np.asarray(subset, dtype=np.int64)
    if subset.size == 0:
        return np.full((len(q), k), -1, np.int64), np.full((len(q), k), -np.inf, np.float32)
    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexFlat) and subset.size <= 200_000:
        vectors = np.vstack([inner.reconstruct(int(i)) for i in subset]) \
            if subset.size < 64 else inner.reconstruct_batch(subset)
        sims = q @ vectors.T
        order = np.argsort(-sims, axis=1)[:, :k]
        ids = subset[order]
        scores = np.take_along_axis(sims, order, axis=1)
        if order.shape[1] < k:
            pad = k - order.shape[1]
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        return ids, scores
    selector = faiss.IDSelectorBatch(subset)
    if isinstance(inner, faiss.IndexIVF):
        params = faiss.SearchParametersIVF(sel=selector, nprobe=inner.nprobe)
    elif isinstance(inner, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(inner.hnsw.efSearch, k))
    else:
        params = faiss.SearchParameters(sel=selector)
    scores, ids = index.search(q, k, params=params)
    return ids, scores
