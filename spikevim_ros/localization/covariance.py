"""Position covariance from a homography fit: residuals propagated to the projected point."""

from __future__ import annotations

import numpy as np


def _normaliser(points: np.ndarray) -> np.ndarray:
    centre = points.mean(axis=0)
    scale = np.sqrt(2.0) / max(float(np.mean(np.linalg.norm(points - centre, axis=1))), 1e-9)
    return np.array([[scale, 0.0, -scale * centre[0]], [0.0, scale, -scale * centre[1]],
                     [0.0, 0.0, 1.0]])


def _apply(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    p = np.column_stack([points, np.ones(len(points))]) @ h.T
    return p[:, :2] / p[:, 2:3]


def _jacobian(h: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Return d(mapped point)/d(h11..h32) (2 x 8) for a homography with h33 = 1."""
    x, y = point
    w = h[2, 0] * x + h[2, 1] * y + 1.0
    u = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w
    v = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w
    return np.array([[x / w, y / w, 1 / w, 0, 0, 0, -u * x / w, -u * y / w],
                     [0, 0, 0, x / w, y / w, 1 / w, -v * x / w, -v * y / w]])


def point_covariance(src: np.ndarray, dst: np.ndarray, homography: np.ndarray,
                     point: np.ndarray) -> tuple[np.ndarray, float]:
    """
    Return the 2 x 2 covariance (destination pixels^2) of ``homography(point)`` and the RMS.

    The residual variance of the fit (2N observations, 8 parameters) times the inverse normal
    matrix gives the parameter covariance, which the point's Jacobian carries to the point.
    Far extrapolation (a point outside the matched area) grows accordingly.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    t_src, t_dst = _normaliser(src), _normaliser(dst)
    h = t_dst @ homography @ np.linalg.inv(t_src)
    h = h / h[2, 2]
    s_src, s_dst = _apply(t_src, src), _apply(t_dst, dst)
    residuals = s_dst - _apply(h, s_src)
    dof = max(2 * len(src) - 8, 1)
    sigma2 = float((residuals ** 2).sum() / dof)
    design = np.vstack([_jacobian(h, p) for p in s_src])
    param_cov = sigma2 * np.linalg.pinv(design.T @ design)
    j = _jacobian(h, _apply(t_src, np.asarray(point, np.float64)[None])[0])
    scale = t_dst[0, 0]
    cov = j @ param_cov @ j.T / (scale * scale)
    rms = float(np.sqrt(sigma2 * 2.0)) / scale
    return 0.5 * (cov + cov.T), rms


def fix_covariance(cov_px: np.ndarray, gsd_m: float, scale: float, map_sigma_m: float
                   ) -> tuple[np.ndarray, dict[str, float]]:
    """
    Return the east/north covariance (m^2) of a verified fix and its terms (1-sigma, m).

    ``alignment``: the fit covariance of the projected point plus one pixel^2 of quantisation,
    in metres, times ``scale``^2 (calibrated by bench/bench_covariance_scale.py); ``map``: the
    georeference error of the map itself. Each term is the RMS of its two axes' sigmas.
    """
    flip = np.diag([gsd_m, -gsd_m])
    alignment = scale ** 2 * (flip @ cov_px @ flip + gsd_m ** 2 * np.eye(2))
    cov = alignment + map_sigma_m ** 2 * np.eye(2)
    return cov, {'alignment': float(np.sqrt(max(np.trace(alignment), 0.0) / 2.0)),
                 'map': float(map_sigma_m)}
