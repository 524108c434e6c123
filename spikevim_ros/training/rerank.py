"""
k-reciprocal re-ranking (Zhong et al., CVPR 2017), vectorised.

:func:`k_reciprocal_weights` is shared with HRAL: from a distance matrix and its top-k lists it
builds the expanded k-reciprocal sets and their row-stochastic Gaussian weights in a handful of
tensor operations (no Python loop over rows).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def _as_tensor(array) -> torch.Tensor:
    """Return ``array`` as a float32 CPU-or-device tensor."""
    if torch.is_tensor(array):
        return array.float()
    return torch.from_numpy(np.asarray(array, dtype=np.float32))


def _reciprocal(ranks: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Return the forward lists ``ranks[:, :k + 1]`` and which of their entries are reciprocal.

    Entry (i, p) is reciprocal when ``i`` is among the first ``k + 1`` neighbours of
    ``ranks[i, p]``.
    """
    n = ranks.shape[0]
    forward = ranks[:, :k + 1]
    member = torch.zeros((n, n), dtype=torch.bool, device=ranks.device)
    member.scatter_(1, forward, True)
    rows = torch.arange(n, device=ranks.device)[:, None]
    return forward, member[forward, rows]


def k_reciprocal_sets(ranks: torch.Tensor, k: int) -> torch.Tensor:
    """
    Return the dense boolean [N, N] matrix of expanded k-reciprocal sets.

    ``ranks`` [N, >= k + 1] lists each row's neighbours, nearest first (itself included). The set
    R(i, k) is expanded by R(c, k/2) of every candidate c in R(i, k) whose half set overlaps
    R(i, k) by more than two thirds of its size.
    """
    n = ranks.shape[0]
    device = ranks.device
    forward, recip = _reciprocal(ranks, k)
    sets = torch.zeros((n, n), dtype=torch.bool, device=device)
    rows = torch.arange(n, device=device)[:, None]
    sets[rows.expand_as(forward)[recip], forward[recip]] = True
    half = int(np.around(k / 2.0))
    half_forward, half_recip = _reciprocal(ranks, half)
    cand_lists = half_forward[forward]                       # [N, k+1, h+1]
    cand_recip = half_recip[forward]                         # [N, k+1, h+1]
    in_set = sets[rows[:, :, None], cand_lists] & cand_recip
    overlap = in_set.sum(2)
    size = cand_recip.sum(2)
    accept = recip & (overlap > 2.0 / 3.0 * size)            # [N, k+1]
    add = accept[:, :, None] & cand_recip
    row_index = rows[:, :, None].expand_as(cand_lists)
    sets[row_index[add], cand_lists[add]] = True
    return sets


def k_reciprocal_weights(distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                         ranks: torch.Tensor, k: int) -> torch.Tensor:
    """
    Return V, the sparse [N, N] row-stochastic weights exp(-d) on the expanded sets.

    ``distance(rows, cols)`` gives d only where it is needed (the set entries).
    """
    rows, cols = torch.nonzero(k_reciprocal_sets(ranks, k), as_tuple=True)
    values = torch.exp(-distance(rows, cols))
    n = ranks.shape[0]
    totals = torch.zeros(n, dtype=values.dtype, device=values.device)
    totals.index_add_(0, rows, values)
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), values / totals[rows], (n, n),
                                   is_coalesced=True, check_invariants=False)


def query_expansion(weights: torch.Tensor, ranks: torch.Tensor, k2: int) -> torch.Tensor:
    """Average each row of V over its first ``k2`` neighbours (k2 = 1 leaves V unchanged)."""
    if k2 <= 1:
        return weights
    return weights[ranks[:, :k2]].mean(1)


def jaccard_distance(weights: torch.Tensor, num_rows: int, chunk: int = 64) -> torch.Tensor:
    """Return 1 - |V_i ^ V_j| / |V_i v V_j| (fuzzy, min/max) for the first ``num_rows`` rows."""
    out = torch.empty((num_rows, weights.shape[0]), dtype=weights.dtype, device=weights.device)
    for start in range(0, num_rows, chunk):
        block = weights[start:min(start + chunk, num_rows)]
        cols = torch.nonzero((block != 0).any(0)).flatten()
        shared = torch.minimum(block[:, None, cols], weights[None, :, cols]).sum(2)
        out[start:start + chunk] = 1.0 - shared / (2.0 - shared)
    return out


def k_reciprocal_rerank(q_g_dist, q_q_dist, g_g_dist, k1: int = 20, k2: int = 6,
                        lambda_value: float = 0.3) -> np.ndarray:
    """
    Re-rank query-gallery distances with k-reciprocal encoding (Zhong et al., CVPR 2017).

    Inputs are distance matrices (numpy or torch; query x gallery, query x query, gallery x
    gallery). Distances are squared and normalised by their column maximum as in the published
    code; the result is the final [num_query, num_gallery] distance matrix (numpy float32).
    """
    q_g, q_q, g_g = (_as_tensor(d) for d in (q_g_dist, q_q_dist, g_g_dist))
    num_query, num_gallery = q_g.shape
    if q_q.shape != (num_query, num_query) or g_g.shape != (num_gallery, num_gallery):
        raise ValueError(f'distance shapes disagree: q_g {tuple(q_g.shape)}, q_q '
                         f'{tuple(q_q.shape)}, g_g {tuple(g_g.shape)}')
    full = torch.cat([torch.cat([q_q, q_g], 1), torch.cat([q_g.T, g_g], 1)], 0) ** 2
    dist = (full / full.max(0).values).T.contiguous()
    n = dist.shape[0]
    k1 = min(k1, n - 1)
    ranks = torch.topk(dist, min(n, max(k1 + 1, k2)), dim=1, largest=False, sorted=True).indices
    weights = query_expansion(
        k_reciprocal_weights(lambda r, c: dist[r, c], ranks, k1).to_dense(), ranks, k2)
    jaccard = jaccard_distance(weights, num_query)
    final = jaccard * (1 - lambda_value) + dist[:num_query] * lambda_value
    return final[:, num_query:].cpu().numpy()
