"""Inputs, settings and results of the localizer."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from spikevim_ros.plausibility import problem


@dataclass(frozen=True)
class Prior:
    """Where the drone probably is: a disc of ``radius_m`` around a latitude/longitude."""

    latitude: float
    longitude: float
    radius_m: float

    def problem(self) -> str | None:
        """Return why the prior is unusable, or None when it is fine."""
        return (problem('latitude', self.latitude, 'prior latitude')
                or problem('longitude', self.longitude, 'prior longitude')
                or problem('prior_radius', self.radius_m))


@dataclass
class LocalizerConfig:
    """Settings of retrieval and fine alignment (defaults suit nadir/oblique drone frames)."""

    top_k: int = 8                    # retrieval candidates kept in large galleries
    rank_all_below: int = 64          # galleries (or prior regions) this small: keep every tile
    #                                   in the ranking (still only max_windows are aligned)
    max_windows: int = 6              # distinct map windows aligned per frame
    prior_window_max_footprints: float = 4.5  # prior windows (2 r + footprint) up to this many
    #                                   footprints wide are searched directly, without the encoder
    #                                   (the coarse search costs the same at any altitude)
    window_factor: float = 1.0        # map window side = tile side + factor x footprint
    query_max_side: int = 1024        # frames are shrunk to this before anything else
    coarse_px: int = 100              # query long side at the coarse search resolution
    fine_px: int = 320                # query long side at the fine alignment resolution
    angle_step_deg: float = 10.0      # heading search step when the heading is unknown
    scale_step: float = 1.25          # footprint search ratio when altitude is unknown
    footprint_range: tuple[float, float] = (0.5, 1.6)  # x tile sides, when altitude unknown
    hypotheses_per_window: int = 5    # coarse peaks kept per window
    max_refinements: int = 6          # coarse peaks (best first) verified per window
    max_refinements_kidnapped: int = 200  # the same without altitude and attitude
    confident_inliers: int = 32       # stop verifying after a match this strong ...
    confident_ratio: float = 0.6      # ... with this inlier fraction
    patch_grid: int = 8               # patches per side for the fine correspondences
    patch_px: int = 48                # patch side at the fine resolution
    min_patch_ncc: float = 0.25
    ransac_px: float = 3.0            # RANSAC threshold at the fine resolution
    min_inliers: int = 14
    min_inlier_ratio: float = 0.20   # of the patches tried (cross-date: ~30 % of a frame
    #                                   may have changed; bench/bench_cross_date.py)
    covariance_scale: float = 0.40    # x (fit covariance + 1 fine pixel^2): what
    #                                   bench/bench_covariance_scale.py measures (0.397)
    map_sigma_m: float = 1.0          # georeference error of the map itself (1 sigma)
    retrieval_fallback: bool = False  # the top tile as an unverified fix when nothing
    #                                   verifies and there is no prior: off, because across
    #                                   dates the top tile is rarely the place (every such
    #                                   estimate 0.9-2 km off: bench/bench_kidnapped.py)
    coarse_fallback: bool = True      # with a prior, attitude and height, the best coarse peak
    #                                   as an unverified fix when nothing verifies (changed
    #                                   ground), its covariance the score map's spread
    coarse_changed_ground_sigma_m: float = 15.0  # added to a coarse-only fix: the spread says
    #                                   how alike other places look, not how far ground that
    #                                   changed (a moved shoreline) pulls the peak (docs)
    retrieval_min_margin: float = 0.08  # top-1 vs best far tile (cosine), for that fallback
    frame_budget_s: float = 8.0       # a frame aligned in its prior window stops after this long
    reacquire_budget_s: float = 1.8   # a frame that goes through the encoder (no small prior
    #                                   window) stops after this long, to keep up with the camera
    #                                   (the step under way finishes: p95 1.9 s in all, under 2 s;
    #                                   bench/bench_kidnapped.py); the next such frame goes on
    #                                   with the windows not reached
    retry_after_frames: int = 5       # windows aligned without a match are skipped by this many
    #                                   following encoder frames (then the ranking starts over)


# the stages of a frame's processing, in order, as named in LocalizationResult.timings_ms:
# the camera's visual odometry (pipeline, without an odometry input), query preparation, the
# prior window or the encoder + faiss ranking, coarse search and patch verification
STAGES = ('visual_odometry', 'prepare', 'retrieval', 'coarse', 'refine')


@dataclass
class LocalizationResult:
    """What the localizer concluded for one frame."""

    fix: bool
    reason: str
    latitude: float = math.nan
    longitude: float = math.nan
    altitude: float = math.nan             # ellipsoid altitude: not derivable from a 2-D map
    heading_deg: float = math.nan          # of the image "up" direction, clockwise from north
    covariance_en_m2: np.ndarray = field(default_factory=lambda: np.full((2, 2), np.nan))
    covariance_terms_m: dict[str, float] = field(default_factory=dict)  # 1-sigma per term
    quality: float = 0.0
    tile_ids: list[int] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)   # per stage (STAGES), total
    verified: bool = False
    inliers: int = 0
    altitude_agl_m: float = math.nan       # height above the map plane, from scale + camera
    encoder_ran: bool = False              # the encoder ranked the map (no small prior window)
    windows_aligned: list[int] = field(default_factory=list)  # tile ids of the windows aligned

    @property
    def sigma_m(self) -> float:
        """Return the 1-sigma horizontal error (sqrt of the larger eigenvalue)."""
        cov = np.asarray(self.covariance_en_m2, dtype=np.float64)
        if not np.all(np.isfinite(cov)):
            return math.nan
        return float(math.sqrt(max(np.linalg.eigvalsh(cov).max(), 0.0)))

    def to_json(self) -> dict:
        """Return a JSON-serialisable dict (NaN becomes None)."""
        def num(value: float) -> float | None:
            return None if not math.isfinite(value) else round(float(value), 9)

        cov = np.asarray(self.covariance_en_m2, dtype=np.float64)
        return {
            'fix': self.fix, 'reason': self.reason, 'verified': self.verified,
            'encoder_ran': self.encoder_ran, 'windows_aligned': list(self.windows_aligned),
            'lat': num(self.latitude), 'lon': num(self.longitude),
            'altitude': num(self.altitude), 'altitude_agl_m': num(self.altitude_agl_m),
            'heading_deg': num(self.heading_deg),
            'covariance_en_m2': [[num(v) for v in row] for row in cov.tolist()],
            'sigma_m': num(self.sigma_m),
            'covariance_terms_m': {k: num(v) for k, v in self.covariance_terms_m.items()},
            'quality': round(float(self.quality), 4),
            'inliers': self.inliers, 'tile_ids': [int(t) for t in self.tile_ids],
            'timings_ms': {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


def offline_config(**changes) -> LocalizerConfig:
    """
    Return settings for single, unrelated images (no camera to keep up with).

    The search through the encoder may take up to 60 s, and each image starts from the top of
    its own ranking (no continuation from the previous image).
    """
    return LocalizerConfig(**{'reacquire_budget_s': 60.0, 'retry_after_frames': 0, **changes})
