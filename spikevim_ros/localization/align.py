"""
Fine alignment of a frame against a map window: coarse similarity search, then patch matching.

Local descriptors (SIFT/ORB) fail between a summer drone photo and an autumn satellite map, but
the layout of edges (roads, roofs, field borders) survives. Both images are therefore turned into
an edge-orientation field (doubled-angle gradient direction weighted by gradient strength, so a
dark-on-light edge matches a light-on-dark one). A coarse search over heading and scale
hypotheses finds candidate placements; a grid of small patches is then matched locally around
each placement, and a RANSAC homography over the patch correspondences verifies it and gives the
residuals the covariance is computed from.

Both fields are smoothed at least to the map's own resolution: a window finer than the map it is
cut from holds no more detail, and the extra smoothing suppresses crop rows and other texture that
does not survive between dates (2010 map / 2020 flight of bench/bench_cross_date.py: 59 instead of
32 of 116 frames along the flight verified at the true place). A match verified on the smoothed
fields is then placed by one more pass on the unsmoothed ones (see :func:`refine`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from spikevim_ros.georaster import GeoRaster
from spikevim_ros.render import cut_tile, nadir_tile_transform


def edge_field(gray: np.ndarray, valid: np.ndarray, blur_px: float = 1.0) -> np.ndarray:
    """Return the H x W x 2 edge-orientation field of a grayscale float image (0 on invalid)."""
    g = cv2.GaussianBlur(gray, (0, 0), blur_px)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1)
    mag2 = gx * gx + gy * gy + 1e-6
    weight = mag2 ** 0.25
    field = np.dstack([(gx * gx - gy * gy) / mag2 * weight, 2.0 * gx * gy / mag2 * weight])
    inside = cv2.erode(valid.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    field[~inside] = 0.0
    return field.astype(np.float32)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """Return a float32 grayscale image."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


@dataclass
class MapWindow:
    """A north-up square of map around ``centre_en`` (raster frame) at ``gsd`` metres/pixel."""

    raster_no: int
    centre_en: tuple[float, float]
    side_m: float
    gsd: float
    field: np.ndarray      # edge field
    en_to_px: np.ndarray   # 3 x 3
    blur_px: float = 1.0   # smoothing of the field (queries matched to it get the same)
    detail: np.ndarray | None = None   # the field at 1 px smoothing, when blur_px > 1

    @property
    def px_to_en(self) -> np.ndarray:
        """Return window pixels -> raster east/north."""
        return np.linalg.inv(self.en_to_px)


def field_blur_px(map_gsd: float, gsd: float) -> float:
    """Return the edge-field smoothing (pixels of ``gsd``) for a map of resolution ``map_gsd``."""
    return max(1.0, map_gsd / gsd)


def cut_window(raster: GeoRaster, raster_no: int, centre_en: tuple[float, float], side_m: float,
               gsd: float) -> MapWindow:
    """Cut a map window, cropping the raster first so that big rasters stay cheap."""
    size = max(16, int(round(side_m / gsd)))
    half = side_m / 2.0 * 1.5
    ce, cn = centre_en
    xs, ys = raster.latlon_to_pixel(*raster.frame.to_latlon(
        np.array([ce - half, ce + half, ce + half, ce - half]),
        np.array([cn + half, cn + half, cn - half, cn - half])))
    w, h = raster.size
    x0, y0 = int(max(0, np.floor(xs.min()) - 2)), int(max(0, np.floor(ys.min()) - 2))
    x1, y1 = int(min(w, np.ceil(xs.max()) + 2)), int(min(h, np.ceil(ys.max()) + 2))
    if x1 - x0 < 2 or y1 - y0 < 2:
        image = np.zeros((size, size, 3), np.uint8)
        valid = np.zeros((size, size), bool)
    else:
        shift = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
        crop = GeoRaster(raster.image[y0:y1, x0:x1], raster.valid[y0:y1, x0:x1], raster.frame,
                         raster.pix_to_en @ shift, raster.source)
        image, valid = cut_tile(crop, centre_en, side_m, size)
    en_to_px = nadir_tile_transform(centre_en, side_m, size)
    blur = field_blur_px(raster.metres_per_pixel, side_m / size)
    gray = to_gray(image)
    detail = edge_field(gray, valid) if blur > 1.0 else None
    return MapWindow(raster_no, centre_en, side_m, side_m / size,
                     edge_field(gray, valid, blur), en_to_px, blur, detail)


def rotation_scale(angle_deg: float, scale: float) -> np.ndarray:
    """Return a 3 x 3 rotation (about the origin, image axes) times isotropic scale."""
    a = np.radians(angle_deg)
    c, s = np.cos(a) * scale, np.sin(a) * scale
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _jacobian_scale(transform: np.ndarray, width: int, height: int) -> float:
    """Return the linear scale of a homography at the centre of a width x height image."""
    jac = cv2.perspectiveTransform(np.array([[[width / 2, height / 2], [width / 2 + 1, height / 2],
                                              [width / 2, height / 2 + 1]]], np.float64),
                                   transform)[0]
    (ax, ay), (bx, by) = jac[1] - jac[0], jac[2] - jac[0]
    return float(np.sqrt(abs(ax * by - ay * bx)))


def shrink(gray: np.ndarray, valid: np.ndarray, factor: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Downsample an image and its mask by ``factor`` (< 1); return them and old px -> new px."""
    h, w = gray.shape
    size = (max(8, int(round(w * factor))), max(8, int(round(h * factor))))
    small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(valid.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    sx, sy = size[0] / w, size[1] / h
    scale = np.array([[sx, 0.0, 0.5 * (sx - 1.0)], [0.0, sy, 0.5 * (sy - 1.0)], [0.0, 0.0, 1.0]])
    return small, mask, scale


def warp_into(gray: np.ndarray, valid: np.ndarray, transform: np.ndarray,
              size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Warp an image and its mask through a homography into an output of (width, height)."""
    h, w = gray.shape
    scale = _jacobian_scale(transform, w, h)
    if scale < 0.66:
        gray = cv2.GaussianBlur(gray, (0, 0), 0.45 / scale)
    out = cv2.warpPerspective(gray, transform, size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.warpPerspective(valid.astype(np.uint8), transform, size,
                               flags=cv2.INTER_NEAREST, borderValue=0) > 0
    return out, mask


def _bbox_shift(transform: np.ndarray, width: int, height: int
                ) -> tuple[np.ndarray, tuple[int, int]]:
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)
    mapped = cv2.perspectiveTransform(corners[None], transform)[0]
    lo = np.floor(mapped.min(0))
    hi = np.ceil(mapped.max(0))
    shift = np.array([[1.0, 0.0, -lo[0]], [0.0, 1.0, -lo[1]], [0.0, 0.0, 1.0]])
    return shift @ transform, (int(hi[0] - lo[0]), int(hi[1] - lo[1]))


@dataclass
class Placement:
    """A coarse hypothesis: query pixels -> window pixels, with its correlation score."""

    score: float
    window: MapWindow
    query_to_window: np.ndarray
    centre: np.ndarray | None = None   # window pixel of the query centre
    score_map: np.ndarray | None = None  # the correlation over shifts it was the peak of
    loc: tuple[int, int] = (0, 0)        # its shift in that map

    def spread_px(self) -> np.ndarray:
        """Return the 2 x 2 covariance (window px^2) of the shift (:func:`score_spread`)."""
        if self.score_map is None:
            raise ValueError('this placement was not found by coarse_search')
        return score_spread(self.score_map, self.loc)


SPREAD_TEMPERATURE = 0.02    # score difference that weighs a shift e times less; calibrated on
#                              the frames of a 2019 flight that did not verify on the 2009 map of
#                              naip_multidate_west (39 coarse fixes, 150 m prior): every error
#                              inside 2-sigma (0.0175: 90 %, 0.015: 78 %; the spread alone,
#                              without the localizer's changed-ground term)


def score_spread(score: np.ndarray, loc: tuple[int, int]) -> np.ndarray:
    """
    Return the 2 x 2 covariance (pixels^2) of the shift at ``loc`` in a coarse score map.

    Every shift is weighted by exp((score - peak) / SPREAD_TEMPERATURE), so that a peak that
    stands alone gives almost nothing and places scoring nearly as well (another stretch of the
    same shoreline, a repeated field pattern) widen it towards themselves. The quantisation of
    the shift is left to :func:`~spikevim_ros.localization.covariance.fix_covariance`.
    """
    peak = float(score[loc[1], loc[0]])
    weight = np.exp(np.minimum((score.astype(np.float64) - peak) / SPREAD_TEMPERATURE, 50.0))
    weight /= weight.sum()
    ys, xs = np.mgrid[0:score.shape[0], 0:score.shape[1]]
    dx, dy = xs - loc[0], ys - loc[1]
    return np.array([[(weight * dx * dx).sum(), (weight * dx * dy).sum()],
                     [(weight * dx * dy).sum(), (weight * dy * dy).sum()]])


def _box_sums(integral: np.ndarray, width: int, height: int) -> np.ndarray:
    """Return the sum of every width x height box (matchTemplate's output layout)."""
    return (integral[height:, width:] - integral[:-height, width:]
            - integral[height:, :-width] + integral[:-height, :-width])


def coarse_search(window: MapWindow, gray: np.ndarray, valid: np.ndarray,
                  query_to_plane: np.ndarray, metres_per_unit: list[float],
                  angles_deg: list[float], keep: int) -> list[Placement]:
    """
    Slide the warped query over the window for each (scale, angle); return the best peaks.

    Scores are correlations normalised by the template energy and the window's energy under
    the template's box (scaled by the template's valid fraction), floored at its median so
    that empty (nodata) areas cannot score high. The query is shrunk once per scale, so each
    angle costs one small warp, one small edge field and one FFT correlation.
    """
    h, w = gray.shape
    win = window.field
    integral = cv2.integral((win * win).sum(axis=2).astype(np.float64))
    found: list[tuple[float, np.ndarray, tuple[int, int]]] = []
    peaks = max(2, -(-keep // len(angles_deg)))
    for mpu in metres_per_unit:
        to_window = rotation_scale(0.0, mpu / window.gsd) @ query_to_plane
        factor = _jacobian_scale(to_window, w, h)
        small, small_valid, to_small = (gray, valid, np.eye(3)) if factor >= 0.66 else \
            shrink(gray, valid, factor * 1.2)
        for angle in angles_deg:
            plane_to_px = rotation_scale(angle, mpu / window.gsd)
            transform, size = _bbox_shift(plane_to_px @ query_to_plane, w, h)
            if size[0] >= win.shape[1] or size[1] >= win.shape[0] or min(size) < 8:
                continue
            small_transform = transform @ np.linalg.inv(to_small)
            t_gray = cv2.warpPerspective(small, small_transform, size, flags=cv2.INTER_LINEAR)
            t_valid = cv2.warpPerspective(small_valid.astype(np.uint8), small_transform, size,
                                          flags=cv2.INTER_NEAREST) > 0
            t_field = edge_field(t_gray, t_valid, window.blur_px)
            norm = float(np.sqrt((t_field * t_field).sum()))
            if norm <= 1e-6:
                continue
            corr = cv2.matchTemplate(win, t_field, cv2.TM_CCORR)
            support = float((t_field != 0).any(axis=2).mean())
            energy = _box_sums(integral, size[0], size[1]).astype(np.float32) * support
            floor = max(float(np.median(energy)), 1e-6)
            score = corr / (norm * np.sqrt(np.maximum(energy, floor)))
            unsuppressed = score.copy()
            for _ in range(peaks):
                _, best, _, loc = cv2.minMaxLoc(score)
                found.append((float(best), transform, loc, unsuppressed))
                r = max(2, min(size) // 3)
                score[max(0, loc[1] - r):loc[1] + r + 1, max(0, loc[0] - r):loc[0] + r + 1] = -1
    found.sort(key=lambda f: -f[0])
    placements: list[Placement] = []
    for best, transform, loc, score_map in found:
        shift = np.array([[1.0, 0.0, loc[0]], [0.0, 1.0, loc[1]], [0.0, 0.0, 1.0]])
        q2w = shift @ transform
        centre = cv2.perspectiveTransform(np.array([[[w / 2.0, h / 2.0]]]), q2w)[0, 0]
        if any(np.hypot(*(centre - p.centre)) < 8.0 for p in placements):
            continue
        placements.append(Placement(best, window, q2w, centre, score_map, loc))
        if len(placements) >= keep:
            break
    return placements


@dataclass
class Alignment:
    """A verified homography from query pixels to raster east/north, with its evidence."""

    window: MapWindow
    query_to_window: np.ndarray    # 3 x 3, query working pixels -> window pixels
    src: np.ndarray                # inlier query points (working pixels), N x 2
    dst: np.ndarray                # matched window points, N x 2
    tried: int                     # patches that were matched
    inliers: int                   # of those, consistent with the homography

    @property
    def query_to_en(self) -> np.ndarray:
        """Return the homography query working pixels -> raster east/north."""
        return self.window.px_to_en @ self.query_to_window


def _subpixel(score: np.ndarray, x: int, y: int) -> tuple[float, float]:
    def peak(a: float, b: float, c: float) -> float:
        d = a - 2 * b + c
        return 0.0 if abs(d) < 1e-9 else float(np.clip(0.5 * (a - c) / d, -0.5, 0.5))

    dx = peak(score[y, x - 1], score[y, x], score[y, x + 1]) \
        if 0 < x < score.shape[1] - 1 else 0.0
    dy = peak(score[y - 1, x], score[y, x], score[y + 1, x]) \
        if 0 < y < score.shape[0] - 1 else 0.0
    return x + dx, y + dy


def _patch_centres(query_to_window: np.ndarray, shape: tuple[int, int], grid: int,
                   patch: int) -> np.ndarray:
    """
    Return integer window pixels of a patch grid laid over the frame itself.

    The grid follows the frame (about ``grid`` x ``grid`` points, more along its long side), so
    that a rotated frame keeps all its patches; it is inset by a patch diagonal.
    """
    h, w = shape
    inset = 0.75 * patch / max(_jacobian_scale(query_to_window, w, h), 1e-9)
    cols = max(2, int(round(grid * np.sqrt(w / h))))
    rows = max(2, int(round(grid * np.sqrt(h / w))))
    gx = np.linspace(min(inset, w / 2), max(w - inset, w / 2), cols)
    gy = np.linspace(min(inset, h / 2), max(h - inset, h / 2), rows)
    points = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(1, -1, 2)
    return np.round(cv2.perspectiveTransform(points, query_to_window)[0]).astype(int)


def match_patches(window: MapWindow, gray: np.ndarray, valid: np.ndarray,
                  query_to_window: np.ndarray, grid: int, patch: int, radius: int,
                  min_ncc: float, detail: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """Match a grid of query patches (warped into the window) within ``radius`` pixels."""
    win = window.detail if detail else window.field
    size = (win.shape[1], win.shape[0])
    w_gray, w_valid = warp_into(gray, valid, query_to_window, size)
    q_field = edge_field(w_gray, w_valid, 1.0 if detail else window.blur_px)
    if not w_valid.any():
        return np.empty((0, 2)), np.empty((0, 2)), 0
    half = patch // 2
    inverse = np.linalg.inv(query_to_window)
    src, dst, tried = [], [], 0
    for cx, cy in _patch_centres(query_to_window, gray.shape, grid, patch):
        y0, x0 = cy - half, cx - half
        if y0 - radius < 0 or x0 - radius < 0 or y0 + patch + radius > size[1] or \
                x0 + patch + radius > size[0]:
            continue
        if w_valid[y0:y0 + patch, x0:x0 + patch].mean() < 0.9:
            continue
        region = win[y0 - radius:y0 + patch + radius, x0 - radius:x0 + patch + radius]
        if (region == 0).all(axis=2).mean() > 0.3:
            continue
        tpl = q_field[y0:y0 + patch, x0:x0 + patch]
        if float((tpl * tpl).mean()) < 1e-2:
            continue
        tried += 1
        score = cv2.matchTemplate(region, tpl, cv2.TM_CCOEFF_NORMED)
        _, best, _, loc = cv2.minMaxLoc(score)
        if not np.isfinite(best) or best < min_ncc:
            continue
        px, py = _subpixel(score, *loc)
        src.append((cx, cy))
        dst.append((cx + px - radius, cy + py - radius))
    if not src:
        return np.empty((0, 2)), np.empty((0, 2)), tried
    src_q = cv2.perspectiveTransform(np.array(src, np.float64)[None], inverse)[0]
    return src_q, np.array(dst, np.float64), tried


def refine(placement: Placement, gray: np.ndarray, valid: np.ndarray, grid: int, patch: int,
           ransac_px: float, min_ncc: float) -> Alignment | None:
    """
    Turn a coarse placement into a verified homography, or None.

    Two passes on the (smoothed) fields, a wide then a narrow search, give the homography and
    the evidence it is verified on. Where the fields are smoothed beyond 1 px, a third narrow
    pass on the unsmoothed fields then places it: smoothing finds changed ground, detail
    locates it (2016 map / 2018 frames of test/test_cross_date.py: median error 5.7 instead of
    6.8 m). The detail pass is kept when it still matches half the inliers; the verification
    (``inliers``, ``tried``) stays that of the smoothed passes.
    """
    transform = placement.query_to_window
    window = placement.window
    best = None
    narrow = max(4, patch // 6)
    for radius, grid_n in ((max(12, patch // 2), grid), (narrow, grid + 2)):
        fit = _fit(window, gray, valid, transform, grid_n, patch, radius, ransac_px, min_ncc)
        if fit is None:
            return best
        transform, src, dst, tried = fit
        best = Alignment(window, transform, src, dst, tried, len(src))
    if window.detail is not None:
        fit = _fit(window, gray, valid, transform, grid + 2, patch, narrow, ransac_px, min_ncc,
                   detail=True)
        if fit is not None and len(fit[1]) >= 0.5 * best.inliers:
            best = Alignment(window, *fit[:3], best.tried, best.inliers)
    return best


def _fit(window: MapWindow, gray: np.ndarray, valid: np.ndarray, transform: np.ndarray,
         grid: int, patch: int, radius: int, ransac_px: float, min_ncc: float,
         detail: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
    """Return (homography, inlier src, inlier dst, patches tried) of one matching pass."""
    src, dst, tried = match_patches(window, gray, valid, transform, grid, patch, radius,
                                    min_ncc, detail)
    if len(src) < 8:
        return None
    homography, mask = cv2.findHomography(src, dst, cv2.RANSAC, ransac_px, maxIters=2000,
                                          confidence=0.999)
    if homography is None:
        return None
    keep = mask.ravel().astype(bool)
    if keep.sum() < 8:
        return None
    refit, _ = cv2.findHomography(src[keep], dst[keep], 0)
    return (refit if refit is not None else homography), src[keep], dst[keep], tried
