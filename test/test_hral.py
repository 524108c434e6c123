"""HRAL: refinement against a loop version, and its losses on fixed inputs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spikevim_ros.training.hral import hral_losses, hral_refine


def loop_refine(feats, k=15, alpha=0.7):
    """Per-row version of HRAL's refinement (Eq. 24-27) written from the description."""
    x = feats.double().numpy()
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    d = (d / d.max(0)).T
    ranks = np.argsort(d, axis=1)

    def recip(i, kk):
        return [j for j in ranks[i, :kk + 1] if i in ranks[j, :kk + 1]]
    n = len(x)
    v = np.zeros((n, n))
    for i in range(n):
        base = recip(i, k)
        members = set(base)
        for c in base:
            cand = recip(c, int(np.around(k / 2)))
            if len(set(cand) & set(base)) > 2 / 3 * len(cand):
                members |= set(cand)
        members = sorted(members)
        w = np.exp(-d[i, members])
        v[i, members] = w / w.sum()
    neighbourhood = np.stack([(v[ranks[i, :k]] @ x).mean(0) for i in range(n)])
    refined = alpha * x + (1 - alpha) * neighbourhood
    return refined / np.linalg.norm(refined, axis=1, keepdims=True)


def test_refine_matches_loop_version():
    torch.manual_seed(0)
    centres = torch.randn(12, 16)
    feats = F.normalize(centres.repeat(5, 1) + 0.3 * torch.randn(60, 16), dim=1)
    got = hral_refine(feats, k=15, alpha=0.7)
    assert got.shape == (60, 16)
    np.testing.assert_allclose(got.numpy(), loop_refine(feats), atol=1e-5)
    assert torch.allclose(got.norm(dim=1), torch.ones(60), atol=1e-5)


def log_softmax(x):
    x = x - x.max(1, keepdims=True)
    return x - np.log(np.exp(x).sum(1, keepdims=True))


def kl_rows(student, teacher, t):
    p_log, q_log = log_softmax(teacher / t), log_softmax(student / t)
    return float((np.exp(p_log) * (p_log - q_log)).sum(1).mean())


def test_losses_match_their_formulas_on_fixed_inputs():
    torch.manual_seed(1)
    base = F.normalize(torch.randn(10, 32), dim=1)
    noisy = F.normalize(base + 0.5 * torch.randn(10, 32), dim=1)
    losses = hral_losses(base, noisy, k=4, alpha=0.7, temperature=0.1)
    refined = loop_refine(torch.cat([base, noisy]), k=4, alpha=0.7)
    q, g = base.double().numpy(), noisy.double().numpy()
    rq, rg = refined[:10], refined[10:]
    cos = 0.5 * ((1 - (q * rq).sum(1)).mean() + (1 - (g * rg).sum(1)).mean())
    kl = 0.5 * (kl_rows(q @ g.T, rq @ rg.T, 0.1) + kl_rows(g @ q.T, rg @ rq.T, 0.1))
    assert float(losses['cos']) == pytest.approx(cos, abs=1e-5)
    assert float(losses['kl']) == pytest.approx(kl, abs=1e-4)
    assert cos > 1e-3


def test_memory_terms_and_gradients():
    torch.manual_seed(2)
    q = F.normalize(torch.randn(8, 16), dim=1).requires_grad_()
    g = F.normalize(q.detach() + 0.3 * torch.randn(8, 16), dim=1).requires_grad_()
    mem_q, mem_g = F.normalize(torch.randn(16, 16), dim=1), F.normalize(torch.randn(16, 16), dim=1)
    losses = hral_losses(q, g, mem_q, mem_g, k=5)
    assert set(losses) == {'cos', 'kl', 'cos_hist', 'kl_hist'}
    sum(losses.values()).backward()
    assert q.grad.abs().sum() > 0 and g.grad.abs().sum() > 0
