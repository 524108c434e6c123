"""k-reciprocal re-ranking: the vectorised version against a loop version of the paper's code."""

import numpy as np
import pytest
import torch

from spikevim_ros.training.rerank import k_reciprocal_rerank, k_reciprocal_sets


def reciprocal_list(ranks, i, k):
    """R(i, k) of the published algorithm, one row at a time."""
    forward = ranks[i, :k + 1]
    return np.array([j for j in forward if i in ranks[j, :k + 1]], dtype=np.int64)


def reference_expanded_set(ranks, i, k1):
    """Return the expanded k-reciprocal set of row i, as in Zhong et al.'s loop code."""
    base = reciprocal_list(ranks, i, k1)
    expanded = list(base)
    half = int(np.around(k1 / 2.0))
    for candidate in base:
        cand = reciprocal_list(ranks, candidate, half)
        if len(np.intersect1d(cand, base)) > 2.0 / 3.0 * len(cand):
            expanded.extend(cand)
    return np.unique(expanded)


def reference_rerank(q_g, q_q, g_g, k1=20, k2=6, lambda_value=0.3):
    """Straightforward loop implementation of the CVPR 2017 re-ranking (float32)."""
    num_q = q_g.shape[0]
    full = np.block([[q_q, q_g], [q_g.T, g_g]]).astype(np.float32) ** 2
    dist = np.transpose(full / np.max(full, axis=0))
    n = dist.shape[0]
    ranks = np.argsort(dist, axis=1)
    weights = np.zeros_like(dist)
    for i in range(n):
        members = reference_expanded_set(ranks, i, k1)
        w = np.exp(-dist[i, members])
        weights[i, members] = w / np.sum(w)
    if k2 != 1:
        expanded = np.zeros_like(weights)
        for i in range(n):
            expanded[i] = np.mean(weights[ranks[i, :k2]], axis=0)
        weights = expanded
    jaccard = np.zeros((num_q, n), dtype=np.float32)
    for i in range(num_q):
        shared = np.zeros(n, dtype=np.float32)
        for col in np.nonzero(weights[i])[0]:
            rows = np.nonzero(weights[:, col])[0]
            shared[rows] += np.minimum(weights[i, col], weights[rows, col])
        jaccard[i] = 1 - shared / (2.0 - shared)
    final = jaccard * (1 - lambda_value) + dist[:num_q] * lambda_value
    return final[:, num_q:]


def clustered_distances(num_q, num_g, dim, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_g, dim))
    gallery = centres + 0.2 * rng.normal(size=centres.shape)
    query = centres[rng.integers(0, num_g, num_q)] + 0.4 * rng.normal(size=(num_q, dim))
    feats = np.concatenate([query, gallery]).astype(np.float32)
    d = np.sqrt(((feats[:, None] - feats[None]) ** 2).sum(-1)).astype(np.float32)
    return d[:num_q, num_q:], d[:num_q, :num_q], d[num_q:, num_q:]


CASES = [(25, 60, 20, 6, 0.3), (40, 50, 8, 1, 0.5), (12, 90, 15, 3, 0.0)]


@pytest.mark.parametrize('num_q,num_g,k1,k2,lam', CASES)
def test_matches_reference_algorithm(num_q, num_g, k1, k2, lam):
    q_g, q_q, g_g = clustered_distances(num_q, num_g, 12, seed=num_q)
    expected = reference_rerank(q_g, q_q, g_g, k1, k2, lam)
    got = k_reciprocal_rerank(q_g, q_q, g_g, k1=k1, k2=k2, lambda_value=lam)
    assert got.shape == (num_q, num_g)
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)


def test_accepts_torch_tensors():
    q_g, q_q, g_g = clustered_distances(30, 40, 6, seed=3)
    got = k_reciprocal_rerank(torch.from_numpy(q_g), torch.from_numpy(q_q),
                              torch.from_numpy(g_g))
    np.testing.assert_allclose(got, k_reciprocal_rerank(q_g, q_q, g_g), atol=1e-7)


def test_expanded_sets_match_loop_version():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(70, 5)).astype(np.float32)
    dist = ((feats[:, None] - feats[None]) ** 2).sum(-1)
    ranks = np.argsort(dist, axis=1)
    sets = k_reciprocal_sets(torch.from_numpy(ranks[:, :16]), 15).numpy()
    for i in range(70):
        assert set(np.nonzero(sets[i])[0]) == set(reference_expanded_set(ranks, i, 15))


def test_shape_mismatch_is_named():
    q_g, q_q, g_g = clustered_distances(5, 8, 3, seed=0)
    with pytest.raises(ValueError, match='distance shapes'):
        k_reciprocal_rerank(q_g, q_q, g_g[:4, :4])
