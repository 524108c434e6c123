"""
HRAL: k-reciprocal feature refinement and its self-distillation losses (paper Eq. 24-32).

Features of a batch (queries and galleries concatenated) are refined by averaging them over
their expanded k-reciprocal neighbourhoods (the same sets as :mod:`rerank`), smoothed by query
expansion over each row's top-k list: ``refined = L2norm(a F + (1 - a) V F)``. The losses pull
each feature and its similarity distribution towards the refined (detached) ones, for the
current batch and against a memory queue of earlier batches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spikevim_ros.training.rerank import k_reciprocal_weights, query_expansion


@torch.no_grad()
def hral_refine(features: torch.Tensor, k: int = 15, alpha: float = 0.7,
                qe_k: int | None = None) -> torch.Tensor:
    """
    Return the refined, L2-normalised features [N, D] (no gradient).

    ``k`` sizes the k-reciprocal sets, ``qe_k`` (default ``k``) the query-expansion lists,
    ``alpha`` weighs the original feature against its neighbourhood average.
    """
    feats = F.normalize(features.detach().float(), dim=1)
    n = feats.shape[0]
    k = min(k, n - 1)
    qe_k = min(qe_k or k, n)
    sim = feats @ feats.T
    # d = (2 - 2 sim) / row max (Eq. 24 + column normalisation of a symmetric matrix): ranking
    # by d is ranking by sim, so d is only evaluated on the k-reciprocal entries
    row_max = (2.0 - 2.0 * sim.min(1).values).clamp_min(1e-12)
    ranks = torch.topk(sim, max(k + 1, qe_k), dim=1, sorted=True).indices

    def distance(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        return (2.0 - 2.0 * sim[rows, cols]).clamp_min(0.0) / row_max[rows]
    weights = k_reciprocal_weights(distance, ranks, k)
    neighbourhood = torch.sparse.mm(weights, feats)
    neighbourhood = query_expansion(neighbourhood, ranks, qe_k)
    return F.normalize(alpha * feats + (1.0 - alpha) * neighbourhood, dim=1)


def _distribution_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float
                     ) -> torch.Tensor:
    """KL(softmax(teacher / t) || softmax(student / t)) averaged over rows."""
    return F.kl_div(F.log_softmax(student / temperature, dim=1),
                    F.log_softmax(teacher / temperature, dim=1), reduction='batchmean',
                    log_target=True)


def hral_losses(queries: torch.Tensor, galleries: torch.Tensor,
                memory_queries: torch.Tensor | None = None,
                memory_galleries: torch.Tensor | None = None, k: int = 15,
                alpha: float = 0.7, temperature: float = 0.1) -> dict[str, torch.Tensor]:
    """
    Return the HRAL loss terms for L2-normalised query and gallery features of a batch.

    ``cos``: 1 - cos(f, refined f), ``kl``: KL between softmax similarity distributions (query
    rows against galleries and gallery rows against queries). With memory features, ``*_hist``
    repeats both against the memory queue (refined over batch + memory).
    """
    num_q = queries.shape[0]
    losses = _hral_terms(queries, galleries, k, alpha, temperature)
    if memory_queries is not None and memory_queries.shape[0] > 0:
        all_q = torch.cat([queries, memory_queries.detach()])
        all_g = torch.cat([galleries, memory_galleries.detach()])
        hist = _hral_terms(all_q, all_g, k, alpha, temperature, rows=num_q)
        losses.update({f'{name}_hist': value for name, value in hist.items()})
    return losses


def _hral_terms(queries: torch.Tensor, galleries: torch.Tensor, k: int, alpha: float,
                temperature: float, rows: int | None = None) -> dict[str, torch.Tensor]:
    """Cos and KL terms of the first ``rows`` queries and galleries (all rows by default)."""
    num_q = queries.shape[0]
    rows = num_q if rows is None else rows
    refined = hral_refine(torch.cat([queries, galleries]), k, alpha)
    ref_q, ref_g = refined[:num_q], refined[num_q:]
    q, g = queries[:rows], galleries[:rows]
    cos = 0.5 * ((1 - (q * ref_q[:rows]).sum(1)).mean() + (1 - (g * ref_g[:rows]).sum(1)).mean())
    kl = 0.5 * (_distribution_kl(q @ galleries.T, ref_q[:rows] @ ref_g.T, temperature)
                + _distribution_kl(g @ queries.T, ref_g[:rows] @ ref_q.T, temperature))
    return {'cos': cos, 'kl': kl}
