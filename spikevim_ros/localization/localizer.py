"""The localizer: retrieval, fine alignment, position and an honest covariance for one frame."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

import cv2
import numpy as np
import torch

from spikevim_ros.camera import PinholeCamera
from spikevim_ros.encoder import preprocess
from spikevim_ros.gallery import Gallery
from spikevim_ros.geo import LocalFrame
from spikevim_ros.localization.align import (Alignment, Placement, coarse_search, cut_window,
                                             refine)
from spikevim_ros.localization.map_fields import MapFields
from spikevim_ros.localization.covariance import fix_covariance, point_covariance
from spikevim_ros.localization.query import (BadFrame, QueryGeometry, check_frame,
                                             geometric_range, prepare_query)
from spikevim_ros.localization.types import LocalizationResult, LocalizerConfig, Prior
from spikevim_ros.plausibility import camera_problem, problem as implausible


class Localizer:
    """Localize camera frames against a gallery (one instance per gallery and encoder)."""

    def __init__(self, gallery: Gallery, encoder, config: LocalizerConfig | None = None) -> None:
        from spikevim_ros.gallery.store import check_encoder
        check_encoder(gallery.manifest, encoder, gallery.directory)
        self.gallery = gallery
        self.encoder = encoder
        self.config = config or LocalizerConfig()
        sides = sorted(set(gallery.tile_side.tolist()))
        lo, hi = self.config.footprint_range
        self._footprints = geometric_range(sides[0] * lo, sides[-1] * hi, self.config.scale_step)
        self._fields = MapFields(gallery.raster)
        self._valid_bounds: dict[int, tuple[float, float, float, float]] = {}
        self._cancel = threading.Event()
        # per recent encoder frame: the windows it aligned to the end without a match
        self._unmatched: deque[list] = deque(maxlen=max(self.config.retry_after_frames, 0))

    def cancel(self) -> None:
        """Stop the frame in progress (and all later ones) at the next check: shutdown."""
        self._cancel.set()

    def localize(self, image_rgb: np.ndarray, prior: Prior | None = None,
                 altitude_agl: float | None = None, camera: PinholeCamera | None = None,
                 attitude_deg: tuple[float, float, float] | None = None
                 ) -> LocalizationResult:
        """Localize one RGB uint8 frame; never raises on bad input (returns "no fix")."""
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = (now - clock) * 1000.0
            clock = now

        started = clock
        try:
            rgb = check_frame(image_rgb)
        except BadFrame as exc:
            return LocalizationResult(False, f'bad frame: {exc}', timings_ms=timings)
        refused = input_problem(altitude_agl, camera)
        if refused:
            return LocalizationResult(False, f'implausible input: {refused}', timings_ms=timings)
        subset = None
        if prior is not None:
            problem = prior.problem()
            if problem:
                return LocalizationResult(False, f'bad prior: {problem}', timings_ms=timings)
            subset = self.gallery.tiles_in_region(prior.latitude, prior.longitude,
                                                  prior.radius_m)
            if subset.size == 0:
                return LocalizationResult(False, self._outside_reason(prior), timings_ms=timings)
        geometry = prepare_query(rgb, self.config.query_max_side, self._footprints,
                                 self.config.angle_step_deg, altitude_agl, camera, attitude_deg)
        lap('prepare')
        windows = self._prior_windows(prior, subset, geometry) if prior is not None else None
        scores = None
        if windows is None:
            budget = FrameBudget(started, self.config.reacquire_budget_s, self._cancel)
            ids, scores = self._retrieve(geometry.rgb, subset)
            windows = self._windows(ids, geometry)
        else:
            budget = FrameBudget(started, self.config.frame_budget_s, self._cancel)
            ids = np.array([w[0] for w in windows])
        lap('retrieval')
        best, unmatched, aligned, peak = self._search(windows, geometry, budget, timings)
        if scores is not None:
            self._unmatched.append(unmatched)
        result = self._conclude(best, geometry, ids, scores, prior, peak)
        if budget.exceeded and not result.fix:
            result.reason += f' (frame budget of {budget.seconds:g} s reached)'
        result.encoder_ran = scores is not None
        result.windows_aligned = aligned
        timings['total'] = (time.perf_counter() - started) * 1000.0
        result.timings_ms = timings
        return result

    @staticmethod
    def _scale_known(geometry: QueryGeometry) -> bool:
        """Return True when altitude (and camera) fixed the scale to a few hypotheses."""
        return len(geometry.metres_per_unit) <= 3

    def _widest_footprint(self, geometry: QueryGeometry) -> float:
        return max(geometry.metres_per_unit) * geometry.plane_extent()

    def _prior_windows(self, prior: Prior, subset: np.ndarray, geometry: QueryGeometry
                       ) -> list | None:
        """Return one window per raster covering a small prior disc, or None if it is large."""
        side = 2.0 * prior.radius_m + self.config.window_factor * \
            self._widest_footprint(geometry)
        # a tilted view sees ground away from the prior's (nadir) position: follow it
        offset_e, offset_n = geometry.footprint_offset_en()
        if len(geometry.metres_per_unit) == 1:
            unit = geometry.metres_per_unit[0]
            shift = (offset_e * unit, offset_n * unit)
        else:
            shift = (0.0, 0.0)
            side += 2.0 * math.hypot(offset_e, offset_n) * max(geometry.metres_per_unit)
        if side > self.config.prior_window_max_footprints * self._widest_footprint(geometry):
            return None
        windows = []
        margin = 0.5 * self._widest_footprint(geometry)
        for raster_no in sorted({self.gallery.tiles[int(i)].raster for i in subset}):
            frame = self.gallery.raster(raster_no).frame
            east, north = frame.to_en(prior.latitude, prior.longitude)
            members = [int(i) for i in subset if self.gallery.tiles[int(i)].raster == raster_no]
            nearest = min(members, key=lambda i: math.hypot(
                self.gallery.tiles[i].centre_east - east,
                self.gallery.tiles[i].centre_north - north))
            clipped = self._clip_to_map(raster_no, (float(east) + shift[0],
                                                    float(north) + shift[1]), side, margin)
            if clipped is not None:
                windows.append((nearest, raster_no) + clipped)
        return windows

    def _clip_to_map(self, raster_no: int, centre: tuple[float, float], side: float,
                     margin: float) -> tuple[tuple[float, float], float] | None:
        """Shrink a square window to the raster's valid area plus ``margin`` (None: no overlap)."""
        if raster_no not in self._valid_bounds:
            raster = self.gallery.raster(raster_no)
            rows, cols = np.nonzero(raster.valid)
            east, north = raster.pixel_to_en(
                np.array([cols.min(), cols.max() + 1, cols.max() + 1, cols.min()], float),
                np.array([rows.min(), rows.min(), rows.max() + 1, rows.max() + 1], float))
            self._valid_bounds[raster_no] = (east.min(), north.min(), east.max(), north.max())
        min_e, min_n, max_e, max_n = self._valid_bounds[raster_no]
        half = side / 2.0
        lo_e, hi_e = max(centre[0] - half, min_e - margin), min(centre[0] + half, max_e + margin)
        lo_n, hi_n = max(centre[1] - half, min_n - margin), min(centre[1] + half, max_n + margin)
        if hi_e <= lo_e or hi_n <= lo_n:
            return None
        return ((lo_e + hi_e) / 2.0, (lo_n + hi_n) / 2.0), max(hi_e - lo_e, hi_n - lo_n)

    def _search(self, windows: list, geometry: QueryGeometry, budget: 'FrameBudget',
                timings: dict[str, float]
                ) -> tuple[tuple[Alignment, int] | None, list, list[int], Placement | None]:
        """
        Align the windows in order (coarse peaks, then their verification), best-ranked first.

        Stops at a confident match or when the budget is spent, but always searches the first
        window and verifies its best ``max_refinements`` peaks, so that every frame makes
        progress down the ranking even when the encoder used up the budget. Returns the best
        alignment, the windows aligned to the end without an accepted match, the tile ids of
        those aligned and the best coarse peak; adds the time spent in each stage to
        ``timings`` (ms).
        """
        best: tuple[Alignment, int] | None = None
        peak: tuple[float, int, Placement] | None = None
        unmatched, aligned = [], []
        timings.update(coarse=0.0, refine=0.0)
        for window in windows:
            first = not aligned
            if not first and budget.spent():
                break
            aligned.append(window[0])
            before = best
            started = time.perf_counter()
            placements = self._coarse(window, geometry, budget, exempt=first)
            if placements and (peak is None or placements[0][0] > peak[0]):
                peak = placements[0]
            middle = time.perf_counter()
            best = self._verify(placements, geometry, budget, best,
                                self.config.max_refinements if first else 0)
            timings['coarse'] += (middle - started) * 1000.0
            timings['refine'] += (time.perf_counter() - middle) * 1000.0
            found = best is not before and self._accepted(best[0])
            if not found and not budget.exceeded:
                unmatched.append(window)
            if best is not None and self._confident(best[0]):
                break
        return best, unmatched, aligned, peak[2] if peak is not None else None

    def _coarse(self, window: tuple, geometry: QueryGeometry, budget: 'FrameBudget',
                exempt: bool = False) -> list:
        """Return one window's (score, tile id, placement) peaks; ``exempt``: no time limit."""
        tile_id, raster_no, centre, side = window
        placements = []
        extent = geometry.plane_extent()
        for mpu in geometry.metres_per_unit:
            if budget.cancelled() or (not exempt and budget.spent()):
                break
            gsd = mpu * extent / self.config.coarse_px
            cut = self._fields.window(raster_no, centre, side, gsd) \
                if self._scale_known(geometry) else \
                cut_window(self.gallery.raster(raster_no), raster_no, centre, side, gsd)
            found = coarse_search(cut, geometry.gray, geometry.valid, geometry.to_plane, [mpu],
                                  geometry.angles_deg, self.config.hypotheses_per_window)
            placements += [(p.score, tile_id, p) for p in found]
        placements.sort(key=lambda item: -item[0])
        return placements

    def _verify(self, placements: list, geometry: QueryGeometry, budget: 'FrameBudget',
                best: tuple[Alignment, int] | None, at_least: int = 0
                ) -> tuple[Alignment, int] | None:
        """Verify the best coarse peaks (``at_least`` of them whatever the budget says)."""
        count = self.config.max_refinements if self._scale_known(geometry) else \
            self.config.max_refinements_kidnapped
        for tried, (_, tile_id, placement) in enumerate(placements[:count]):
            if budget.cancelled() or (tried >= at_least and budget.spent()):
                break
            alignment = self._refine(placement, geometry)
            if alignment is None or (best is not None and alignment.inliers <= best[0].inliers):
                continue
            best = (alignment, tile_id)
            if self._confident(alignment):
                break
        return best

    def _accepted(self, alignment: Alignment) -> bool:
        """Return True when an alignment is strong enough to be a verified fix."""
        cfg = self.config
        return alignment.inliers >= cfg.min_inliers and \
            alignment.inliers >= cfg.min_inlier_ratio * max(alignment.tried, 1)

    def _confident(self, alignment: Alignment) -> bool:
        """Return True when an alignment is so strong that searching on is wasted time."""
        cfg = self.config
        return alignment.inliers >= cfg.confident_inliers and \
            alignment.inliers >= cfg.confident_ratio * alignment.tried

    def _outside_reason(self, prior: Prior) -> str:
        frame = LocalFrame(prior.latitude, prior.longitude)
        east, north = frame.to_en(self.gallery.tile_lat, self.gallery.tile_lon)
        nearest = float(np.sqrt(east * east + north * north).min())
        return (f'prior region ({prior.latitude:.6f}, {prior.longitude:.6f}, '
                f'{prior.radius_m:.0f} m) contains no gallery tile; the nearest tile centre is '
                f'{nearest:.0f} m away')

    def _retrieve(self, rgb: np.ndarray, subset: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            descriptor = self.encoder(preprocess(rgb, size=self.gallery.input_size))
        descriptor = descriptor.float().cpu().numpy()
        pool = len(self.gallery) if subset is None else len(subset)
        k = pool if pool <= self.config.rank_all_below else self.config.top_k
        return self.gallery.search(descriptor, max(k, 2), subset)

    def _windows(self, ids: np.ndarray, geometry: QueryGeometry) -> list:
        """
        Pick distinct map windows (tile, raster, centre, side) around the best-ranked tiles.

        Windows that the last ``retry_after_frames`` encoder frames aligned without a match are
        skipped, so consecutive frames go down the ranking instead of repeating its top; when
        nothing is left the ranking starts over.
        """
        skipped = [w for frame in self._unmatched for w in frame]
        chosen = self._pick_windows(ids, geometry, skipped)
        if not chosen and skipped:
            self._unmatched.clear()
            chosen = self._pick_windows(ids, geometry, [])
        return chosen

    def _pick_windows(self, ids: np.ndarray, geometry: QueryGeometry, skipped: list) -> list:
        widest = self._widest_footprint(geometry)
        chosen: list[tuple[int, int, tuple[float, float], float]] = []
        for tile_id in ids:
            tile = self.gallery.tiles[int(tile_id)]
            side = tile.side_m + self.config.window_factor * widest
            reach = (side - tile.side_m) / 2.0
            if any(raster_no == tile.raster and
                   max(abs(tile.centre_east - centre[0]),
                       abs(tile.centre_north - centre[1])) <= reach
                   for _, raster_no, centre, _ in chosen + skipped):
                continue
            chosen.append((int(tile_id), tile.raster, (tile.centre_east, tile.centre_north),
                           side))
            if len(chosen) >= self.config.max_windows:
                break
        return chosen

    def _refine(self, placement, geometry: QueryGeometry) -> Alignment | None:
        """Re-cut the map at the fine resolution around a placement and verify it."""
        h, w = geometry.gray.shape
        coarse = placement.window
        q2en = coarse.px_to_en @ placement.query_to_window
        corners = cv2.perspectiveTransform(
            np.array([[[0, 0], [w, 0], [w, h], [0, h], [w / 2, h / 2]]], np.float64), q2en)[0]
        footprint = float(max(np.ptp(corners[:4, 0]), np.ptp(corners[:4, 1])))
        gsd = footprint / self.config.fine_px
        fine = cut_window(self.gallery.raster(coarse.raster_no), coarse.raster_no,
                          (float(corners[4, 0]), float(corners[4, 1])), footprint * 1.6, gsd)
        start = Placement(placement.score, fine, fine.en_to_px @ q2en)
        alignment = refine(start, geometry.gray, geometry.valid, self.config.patch_grid,
                           self.config.patch_px, self.config.ransac_px,
                           self.config.min_patch_ncc)
        if alignment is None:
            return None
        jac = alignment.query_to_en
        if np.linalg.det(jac[:2, :2]) * np.linalg.det(q2en[:2, :2]) <= 0:
            return None
        return alignment

    def _conclude(self, best: tuple[Alignment, int] | None, geometry: QueryGeometry,
                  ids: np.ndarray, scores: np.ndarray | None, prior: Prior | None,
                  peak: Placement | None = None) -> LocalizationResult:
        cfg = self.config
        retrieved = [int(i) for i in ids[:5]]
        if best is not None:
            alignment, tile_id = best
            ratio = alignment.inliers / max(alignment.tried, 1)
            if self._accepted(alignment):
                result = self._verified_fix(alignment, geometry, ratio)
                result.tile_ids = [tile_id] + [i for i in retrieved if i != tile_id]
                outside = self._outside_prior(result, prior)
                if outside:
                    return LocalizationResult(False, outside, tile_ids=result.tile_ids,
                                              inliers=result.inliers)
                return result
            weak = (f'no verified match (best {alignment.inliers} inliers of '
                    f'{alignment.tried} patches; need {cfg.min_inliers} and '
                    f'{cfg.min_inlier_ratio:.0%})')
        else:
            weak = 'no verified match (no consistent placement found)'
        if cfg.coarse_fallback and prior is not None and scores is None and peak is not None \
                and len(geometry.metres_per_unit) == len(geometry.angles_deg) == 1:
            coarse = self._coarse_fix(peak, geometry, prior, weak)
            if coarse is not None:
                coarse.tile_ids = retrieved
                return coarse
        if cfg.retrieval_fallback and scores is not None and prior is None:
            fallback = self._retrieval_only(ids, scores)
            if fallback is not None:
                return fallback
        return LocalizationResult(False, f'{weak}; retrieval alone is not confident',
                                  tile_ids=retrieved)

    def _verified_fix(self, alignment: Alignment, geometry: QueryGeometry, ratio: float
                      ) -> LocalizationResult:
        cfg = self.config
        window = alignment.window
        raster = self.gallery.raster(window.raster_no)
        target = geometry.target_px
        q2en = alignment.query_to_en
        east, north = cv2.perspectiveTransform(target[None, None].astype(np.float64), q2en)[0, 0]
        up = cv2.perspectiveTransform((target - [0.0, 1.0])[None, None].astype(np.float64),
                                      q2en)[0, 0]
        heading = math.degrees(math.atan2(up[0] - east, up[1] - north)) % 360.0
        cov_px, _ = point_covariance(alignment.src, alignment.dst, alignment.query_to_window,
                                     target)
        cov, terms = fix_covariance(cov_px, window.gsd, cfg.covariance_scale, cfg.map_sigma_m)
        lat, lon = raster.frame.to_latlon(east, north)
        altitude_agl = math.nan
        if geometry.camera is not None:
            local = cv2.perspectiveTransform(
                np.array([[[geometry.gray.shape[1] / 2, geometry.gray.shape[0] / 2],
                           [geometry.gray.shape[1] / 2 + 1, geometry.gray.shape[0] / 2]]]),
                q2en)[0]
            altitude_agl = float(np.hypot(*(local[1] - local[0]))) * geometry.camera.fx
        quality = (1.0 - math.exp(-alignment.inliers / (2.0 * cfg.min_inliers))) * \
            min(1.0, ratio / 0.7)
        return LocalizationResult(True, 'verified', float(lat), float(lon),
                                  heading_deg=heading, covariance_en_m2=cov,
                                  covariance_terms_m=terms,
                                  quality=float(np.clip(quality, 0.0, 1.0)), verified=True,
                                  inliers=alignment.inliers, altitude_agl_m=altitude_agl)

    def _coarse_fix(self, peak: Placement, geometry: QueryGeometry, prior: Prior, weak: str
                    ) -> LocalizationResult | None:
        """
        Return the best coarse peak as an unverified fix, or None when it says little.

        Over ground that changed since the map was made the patches of a frame may no longer
        verify, while the frame as a whole still correlates best at its true place. The
        position is the peak's, its covariance the score map's spread about it
        (:func:`~spikevim_ros.localization.align.score_spread`) in the terms of a verified fix
        (one coarse pixel^2 of quantisation, unscaled, plus the map's own error), plus
        ``coarse_changed_ground_sigma_m``^2 for the pull of ground that changed. It is kept
        only when its 3-sigma is inside the prior radius (a flat score map over water or noise
        spreads across the whole window).
        """
        window = peak.window
        q2en = window.px_to_en @ peak.query_to_window
        target = geometry.target_px[None, None].astype(np.float64)
        east, north = cv2.perspectiveTransform(target, q2en)[0, 0]
        cov, terms = fix_covariance(peak.spread_px(), window.gsd, 1.0, self.config.map_sigma_m)
        changed = self.config.coarse_changed_ground_sigma_m
        cov = cov + changed ** 2 * np.eye(2)
        terms['changed_ground'] = changed
        if 3.0 * math.sqrt(np.trace(cov) / 2.0) > prior.radius_m:
            return None
        lat, lon = self.gallery.raster(window.raster_no).frame.to_latlon(east, north)
        result = LocalizationResult(
            True, f'coarse match only, not verified: {weak}', float(lat), float(lon),
            covariance_en_m2=cov, covariance_terms_m=terms, quality=0.1, verified=False)
        return None if self._outside_prior(result, prior) else result

    def _outside_prior(self, result: LocalizationResult, prior: Prior | None) -> str | None:
        if prior is None:
            return None
        frame = LocalFrame(prior.latitude, prior.longitude)
        distance = float(np.hypot(*frame.to_en(result.latitude, result.longitude)))
        allowed = prior.radius_m + 3.0 * result.sigma_m
        if distance > allowed:
            return (f'match lies {distance:.0f} m from the prior centre, outside its '
                    f'{prior.radius_m:.0f} m radius')
        return None

    def _retrieval_only(self, ids: np.ndarray, scores: np.ndarray) -> LocalizationResult | None:
        """Return a tile-sized estimate when the top tile clearly beats every distant tile."""
        if len(ids) < 2:
            return None
        top = self.gallery.tiles[int(ids[0])]
        frame = LocalFrame(top.lat, top.lon)
        east, north = frame.to_en(self.gallery.tile_lat[ids], self.gallery.tile_lon[ids])
        far = np.hypot(east, north) > top.side_m
        if not far.any():
            return None
        margin = float(scores[0] - scores[far].max())
        if margin < self.config.retrieval_min_margin:
            return None
        sigma = top.side_m / 2.0
        return LocalizationResult(True, f'retrieval only (margin {margin:.3f}, not verified)',
                                  top.lat, top.lon, covariance_en_m2=np.eye(2) * sigma ** 2,
                                  covariance_terms_m={'retrieval': sigma},
                                  quality=float(min(0.3, margin)), verified=False,
                                  tile_ids=[int(i) for i in ids[:5]])


class FrameBudget:
    """A per-frame time limit: stages check it and stop early, keeping what they found."""

    def __init__(self, started: float, seconds: float,
                 cancel: threading.Event | None = None) -> None:
        self.seconds = seconds
        self._deadline = started + seconds
        self._cancel = cancel
        self.exceeded = False

    def cancelled(self) -> bool:
        """Return True once the owner asked all work to stop (shutdown)."""
        return self._cancel is not None and self._cancel.is_set()

    def spent(self) -> bool:
        """Return True (and remember it) once the frame's time is used up or work cancelled."""
        self.exceeded = self.exceeded or self.cancelled() or time.perf_counter() > self._deadline
        return self.exceeded


def input_problem(altitude_agl: float | None, camera: PinholeCamera | None) -> str | None:
    """Return why the altitude or camera given with a frame is implausible (None: unknown)."""
    if altitude_agl is not None:
        reason = implausible('altitude_agl', altitude_agl)
        if reason:
            return reason
    return camera_problem(camera) if camera is not None else None
