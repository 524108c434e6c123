"""Retrieval metrics: hand-computed cases and a loop version of the University-1652 code."""

import numpy as np
import pytest

from spikevim_ros.training.metrics import evaluate_retrieval


def ranked_similarity(order, size):
    """Similarity row that ranks gallery indices in ``order`` first (descending)."""
    sim = np.zeros(size)
    sim[list(order)] = np.linspace(1.0, 0.5, len(order))
    return sim


def hand_case():
    gallery_ids = np.array([0, 1, 1, 2, 3, 4, 5, 6, 7, 8])
    # query 0 (id 1): matches ranked 2nd and 4th; query 1 (id 9) has no match in the gallery
    row0 = ranked_similarity([0, 1, 3, 2, 4, 5, 6, 7, 8, 9], 10)
    row1 = ranked_similarity(range(10), 10)
    return np.stack([row0, row1]), np.array([1, 9]), gallery_ids


def test_university1652_protocol_by_hand():
    sim, q_ids, g_ids = hand_case()
    result = evaluate_retrieval(sim, q_ids, g_ids, 'university1652')
    assert result['R@1'] == 0.0 and result['R@5'] == 50.0 and result['R@10'] == 50.0
    # trapezoid AP of query 0: 0.5 * (0 + 1/2) / 2 + 0.5 * (1/3 + 2/4) / 2 = 1/3
    assert result['AP'] == pytest.approx(100 * (1 / 3) / 2)
    standard = evaluate_retrieval(sim, q_ids, g_ids, 'university1652', ap='standard')
    assert standard['AP'] == pytest.approx(100 * 0.5 / 2)


def test_sample4geo_drops_identities_never_queried():
    sim, q_ids, g_ids = hand_case()
    result = evaluate_retrieval(sim, q_ids, g_ids, 'sample4geo')
    assert result['R@1'] == 50.0 and result['AP'] == pytest.approx(50.0)


def test_r_at_one_percent_reads_index_round_of_one_percent():
    g_ids = np.arange(250)
    for hit_rank, expected in ((2, 100.0), (3, 0.0)):   # round(2.5) == 2
        order = [i for i in range(250) if i != 7]
        order.insert(hit_rank, 7)
        sim = ranked_similarity(order, 250)[None]
        assert evaluate_retrieval(sim, [7], g_ids)['R@1%'] == expected


def loop_university1652(sim, q_ids, g_ids):
    """Evaluate like the dataset authors' per-query code, as a plain loop."""
    cmc = np.zeros(len(g_ids))
    ap_total = 0.0
    for row, q in zip(sim, q_ids):
        index = np.argsort(row)[::-1]
        good = np.nonzero(g_ids[index] == q)[0]
        if len(good) == 0:
            continue
        cmc[good[0]:] += 1
        for i, r in enumerate(good):
            precision = (i + 1) / (r + 1)
            old = i / r if r != 0 else 1.0
            ap_total += (old + precision) / 2 / len(good)
    cmc /= len(q_ids)
    return {'R@1': 100 * cmc[0], 'R@5': 100 * cmc[4], 'R@10': 100 * cmc[9],
            'R@1%': 100 * cmc[round(len(g_ids) * 0.01)], 'AP': 100 * ap_total / len(q_ids)}


def test_matches_loop_version_on_random_data():
    rng = np.random.default_rng(0)
    g_ids = rng.integers(0, 150, 300)
    q_ids = rng.integers(0, 160, 200)
    sim = rng.normal(size=(200, 300))
    sim[np.arange(200), rng.integers(0, 300, 200)] += 2.0
    got = evaluate_retrieval(sim, q_ids, g_ids, 'university1652', chunk=64)
    expected = loop_university1652(sim, q_ids, g_ids)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name


def test_junk_ids_are_removed_and_bad_input_is_named():
    sim = np.array([[0.9, 0.8, 0.1]])
    assert evaluate_retrieval(sim, [5], [-1, 5, 6])['R@1'] == 100.0
    with pytest.raises(ValueError, match='protocol'):
        evaluate_retrieval(sim, [5], [-1, 5, 6], protocol='cvusa')
    with pytest.raises(ValueError, match='does not match'):
        evaluate_retrieval(sim, [5, 6], [-1, 5, 6])
