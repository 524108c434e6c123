"""
Retrieval metrics under the two protocols used in the cross-view geo-localization literature.

``university1652``: the dataset authors' evaluation (full gallery, distractors included,
trapezoidal AP, R@1% read at 0-based CMC index round(0.01 * gallery size)); queries without a
true match count as misses; gallery ids of -1 are junk and are removed, as in their code.
``sample4geo``: the same, after dropping gallery identities that never occur as a query (as
Sample4Geo, DAC and the SpikeViMFormer authors' earlier code do).
"""

from __future__ import annotations

import numpy as np
import torch

PROTOCOLS = ('university1652', 'sample4geo')
AP_KINDS = ('trapezoid', 'standard')


def _ranked_hits(similarity: torch.Tensor, query_ids: torch.Tensor, gallery_ids: torch.Tensor
                 ) -> torch.Tensor:
    """Return [Q, G'] booleans: is the r-th best gallery item (junk removed) a true match."""
    order = torch.argsort(similarity, dim=1, descending=True)
    ranked_ids = gallery_ids[order]
    keep = ranked_ids != -1
    hits = ranked_ids == query_ids[:, None]
    if bool(keep.all()):
        return hits
    width = int(keep.sum(1).max())
    packed = torch.zeros((hits.shape[0], width), dtype=torch.bool)
    position = torch.cumsum(keep, 1) - 1
    rows = torch.arange(hits.shape[0])[:, None].expand_as(hits)
    packed[rows[keep], position[keep]] = hits[keep]
    return packed


def _average_precision(hits: torch.Tensor, ap: str) -> torch.Tensor:
    """Return the per-query AP for ranked hit matrices (0 where a query has no match)."""
    num_good = hits.sum(1).double()
    rank = torch.arange(1, hits.shape[1] + 1, dtype=torch.float64)
    found = torch.cumsum(hits, 1).double()
    precision = found / rank
    if ap == 'standard':
        total = (precision * hits).sum(1)
    else:
        before = found - 1.0
        old_precision = torch.where(rank > 1, before / (rank - 1).clamp_min(1), 1.0)
        total = ((old_precision + precision) / 2.0 * hits).sum(1)
    return torch.where(num_good > 0, total / num_good.clamp_min(1), torch.zeros_like(total))


def evaluate_retrieval(similarity, query_ids, gallery_ids, protocol: str = 'university1652',
                       ap: str = 'trapezoid', chunk: int = 1024) -> dict[str, float]:
    """
    Return R@1, R@5, R@10, R@1% and AP (percent) of a [Q, G] similarity matrix (higher = closer).

    ``query_ids``/``gallery_ids`` are integer location ids; ``protocol`` is "university1652"
    or "sample4geo"; ``ap`` is "trapezoid" (the authors') or "standard" (non-interpolated).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, got {protocol!r}')
    if ap not in AP_KINDS:
        raise ValueError(f'ap must be one of {AP_KINDS}, got {ap!r}')
    sim = torch.as_tensor(similarity)             # float64 per chunk only (memory)
    q_ids = torch.as_tensor(np.asarray(query_ids, dtype=np.int64))
    g_ids = torch.as_tensor(np.asarray(gallery_ids, dtype=np.int64))
    if sim.dim() != 2 or sim.shape != (len(q_ids), len(g_ids)):
        raise ValueError(f'similarity shape {tuple(sim.shape)} does not match '
                         f'{len(q_ids)} query ids x {len(g_ids)} gallery ids')
    if protocol == 'sample4geo':
        keep = torch.isin(g_ids, q_ids)
        sim, g_ids = sim[:, keep], g_ids[keep]
    gallery_size = int(g_ids.numel())
    if gallery_size == 0 or len(q_ids) == 0:
        raise ValueError('evaluate_retrieval needs at least one query and one gallery item')
    one_percent = round(gallery_size * 0.01)
    cutoffs = {'R@1': 0, 'R@5': 4, 'R@10': 9, 'R@1%': one_percent}
    sums = dict.fromkeys(cutoffs, 0.0)
    ap_sum = 0.0
    for start in range(0, len(q_ids), chunk):
        hits = _ranked_hits(sim[start:start + chunk].double(), q_ids[start:start + chunk],
                            g_ids)
        first = torch.where(hits.any(1), hits.double().argmax(1),
                            torch.full((hits.shape[0],), np.iinfo(np.int64).max))
        for name, index in cutoffs.items():
            sums[name] += float((first <= index).sum())
        ap_sum += float(_average_precision(hits, ap).sum())
    count = len(q_ids)
    result = {name: 100.0 * value / count for name, value in sums.items()}
    result['AP'] = 100.0 * ap_sum / count
    return result
