"""The fallback pipeline with a real gallery, encoder and localizer on rendered map views."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fallback_world import ALTITUDE_AGL, CAMERA, build_small_gallery, crop_raster, view
from sim_scenarios import gnss_fix
from spikevim_ros.fix import COVARIANCE_TYPE_APPROXIMATED, STATUS_FIX, STATUS_NO_FIX
from spikevim_ros.geo import horizontal_distance_m
from spikevim_ros.gnss import GnssHealth, GnssMonitor, GnssMonitorConfig
from spikevim_ros.aircraft.odometry import Odometry
from spikevim_ros.pipeline import FallbackPipeline, PipelineConfig

GNSS_ALTITUDE = 312.5    # what sim_scenarios.gnss_fix reports


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    from spikevim_ros.encoder import build_encoder
    from spikevim_ros.localization import Localizer

    root = tmp_path_factory.mktemp('pipeline_world')
    encoder = build_encoder('T', runtime='auto')
    gallery = build_small_gallery(root, encoder)
    return Localizer(gallery, encoder), crop_raster(root)


def make_pipeline(localizer, **monitor) -> FallbackPipeline:
    config = GnssMonitorConfig(**{'recover_good_fixes': 2, 'recover_seconds': 0.0,
                                  'timeout_s': 1.0, **monitor})
    return FallbackPipeline(localizer, GnssMonitor(config),
                            PipelineConfig(prior_radius_m=60.0, prior_growth_m_s=10.0,
                                           ground_altitude_m=150.0, vertical_sigma_m=7.0))


def feed_good(pipe: FallbackPipeline, lat: float, lon: float, start: float, count: int
              ) -> list:
    return [pipe.on_gnss(gnss_fix(start + 0.1 * k, lat, lon), start + 0.1 * k)
            for k in range(count)]


def test_gnss_selected_while_ok_vision_while_lost_and_hysteresis_back(world):
    localizer, raster = world
    pipe = make_pipeline(localizer, recover_seconds=1.0)
    image, lat, lon = view(raster, 20.0, -15.0)
    selected = feed_good(pipe, lat, lon, 10.0, 11)           # 2 fixes needed, over 1.0 s
    assert all(s is None for s in selected[:10]) and selected[10] is not None
    prior = pipe.prior(11.1)
    assert prior.radius_m == pytest.approx(60.0 + 3 * 2.0 + 10.0 * 0.1)

    out = pipe.on_frame(image, stamp=11.05, now=11.1, altitude_agl=ALTITUDE_AGL, camera=CAMERA,
                        frame_id='cam_down')
    assert out.gnss_status.health is GnssHealth.OK and out.selected is None
    fix = out.vision_fix
    assert out.result.verified and fix is not None
    assert horizontal_distance_m(lat, lon, fix.latitude, fix.longitude) < 10.0
    assert (fix.stamp, fix.status, fix.frame_id) == (11.05, STATUS_FIX, 'cam_down')
    assert fix.altitude == GNSS_ALTITUDE                       # last good GNSS altitude
    assert fix.covariance_type == COVARIANCE_TYPE_APPROXIMATED
    tilt = (ALTITUDE_AGL * math.tan(math.radians(PipelineConfig().tilt_sigma_deg))) ** 2
    np.testing.assert_allclose(fix.covariance_enu[:2, :2],
                               out.result.covariance_en_m2 + tilt * np.eye(2))
    assert fix.covariance_enu[2, 2] == pytest.approx(49.0)
    assert out.prior is not None

    assert pipe.on_gnss(gnss_fix(11.2, lat, lon, status=STATUS_NO_FIX), 11.2) is None
    out = pipe.on_frame(image, stamp=11.25, now=11.3, altitude_agl=ALTITUDE_AGL, camera=CAMERA)
    assert out.gnss_status.health is GnssHealth.LOST and 'no fix' in out.gnss_status.reason
    assert out.selected is out.vision_fix and out.selected is not None

    back = feed_good(pipe, lat, lon, 11.4, 11)
    assert all(s is None for s in back[:10]) and back[10] is not None
    assert pipe.tick(12.5).health is GnssHealth.OK


def test_spoofed_jump_is_caught_by_the_next_frame(world):
    localizer, raster = world
    pipe = make_pipeline(localizer)
    image, lat, lon = view(raster, -25.0, 30.0)
    feed_good(pipe, lat, lon, 20.0, 3)
    assert pipe.on_frame(image, 20.3, 20.3, ALTITUDE_AGL, CAMERA).result.verified
    # 2 s later (beyond the stamp gap of that vision fix) the GNSS jumps 300 m
    jumped = horizontal_distance_m(lat, lon, lat, lon + 0.0047)
    assert jumped > 250.0
    assert pipe.on_gnss(gnss_fix(22.3, lat, lon + 0.0047), 22.3) is not None  # not yet comparable
    prior = pipe.prior(22.4)
    assert prior.radius_m > jumped / 2     # holds both the vision and the GNSS position
    out = pipe.on_frame(image, 22.35, 22.4, ALTITUDE_AGL, CAMERA)
    assert out.gnss_status.health is GnssHealth.LOST
    assert out.gnss_status.reason.startswith('spoofing suspected')
    assert out.selected is not None
    assert horizontal_distance_m(lat, lon, out.selected.latitude, out.selected.longitude) < 10.0
    assert pipe.on_gnss(gnss_fix(22.5, lat, lon + 0.0047), 22.5) is None


def test_without_gnss_altitude_comes_from_ground_height_and_agl(world):
    localizer, raster = world
    pipe = make_pipeline(localizer)
    image, lat, lon = view(raster, 0.0, 0.0)
    assert pipe.prior(5.0) is None                       # nothing trusted: whole gallery
    pipe.on_frame(image, 5.0, 5.0, altitude_agl=ALTITUDE_AGL, camera=CAMERA)   # a candidate
    out = pipe.on_frame(image, 6.0, 6.0, altitude_agl=ALTITUDE_AGL, camera=CAMERA)
    assert out.vision_fix is not None and out.selected is out.vision_fix
    assert out.vision_fix.altitude == pytest.approx(150.0 + ALTITUDE_AGL)
    assert not math.isnan(out.vision_fix.altitude)
    # the verified fix is now the prior's anchor, growing with its age
    assert pipe.prior(7.0).radius_m == pytest.approx(
        60.0 + 3 * out.vision_fix.horizontal_sigma_m + 10.0 * 1.0)
    assert pipe.prior(500.0) is None


def test_match_without_prior_is_published_once_a_second_frame_agrees(world):
    localizer, raster = world
    pipe = FallbackPipeline(localizer, GnssMonitor(),
                            PipelineConfig(prior_radius_m=30.0, prior_growth_m_s=10.0))

    def frame(east: float, north: float, now: float):
        image, lat, lon = view(raster, east, north)
        return pipe.on_frame(image, now, now, altitude_agl=ALTITUDE_AGL, camera=CAMERA), lat, lon

    first, _, _ = frame(30.0, 30.0, 5.0)
    assert first.result.verified and not first.result.fix    # found, but not trusted alone
    assert 'no earlier match' in first.result.reason
    assert first.vision_fix is None and first.selected is None
    assert pipe.prior(5.2) is None                              # it anchors nothing
    # 85 m away half a second later: more than the motion allows, so it replaces the candidate
    jumped, _, _ = frame(-30.0, -30.0, 5.5)
    assert jumped.result.verified and jumped.vision_fix is None
    assert 'from the previous match' in jumped.result.reason
    agreed, lat, lon = frame(-25.0, -30.0, 6.0)
    assert agreed.result.fix and agreed.vision_fix is not None
    assert agreed.selected is agreed.vision_fix                 # GNSS never seen: LOST
    assert horizontal_distance_m(lat, lon, agreed.vision_fix.latitude,
                                 agreed.vision_fix.longitude) < 10.0
    # confirmed: now the anchor, and the next frame near it is published at once
    assert pipe.prior(6.5).radius_m < PipelineConfig().confirm_above_radius_m
    assert frame(-20.0, -30.0, 6.5)[0].vision_fix is not None


def test_second_match_must_agree_through_the_odometry_within_the_sigmas(world):
    localizer, raster = world
    pipe = FallbackPipeline(localizer, GnssMonitor(), PipelineConfig())   # 100 m search margin

    def frame(east: float, now: float, odometry_east: float):
        image, _, _ = view(raster, east, 0.0)
        odometry = Odometry(np.array([odometry_east, 0.0, 100.0]), np.zeros(3))
        return pipe.on_frame(image, now, now, altitude_agl=ALTITUDE_AGL, camera=CAMERA,
                             odometry=odometry)

    assert frame(0.0, 5.0, 0.0).vision_fix is None                # the candidate
    # 30 m east of where the odometry puts the candidate: inside the search margin, but two
    # fixes of one place would agree within a few sigma, so this one only replaces the candidate
    drifted = frame(30.0, 5.5, 0.0)
    assert drifted.result.verified and drifted.vision_fix is None
    assert 'from the previous match' in drifted.result.reason
    # the odometry says 30 m east, and the match is 30 m east: confirmed
    moved = frame(60.0, 6.0, 30.0)
    assert moved.vision_fix is not None


def test_first_match_after_a_lost_track_waits_for_a_second_frame(world):
    localizer, raster = world
    pipe = FallbackPipeline(localizer, GnssMonitor(),
                            PipelineConfig(prior_radius_m=200.0, prior_growth_m_s=2.0,
                                           confirm_after_gap_s=10.0))
    image, lat, lon = view(raster, 0.0, 0.0)
    feed_good(pipe, lat, lon, 1.0, 3)                    # GNSS seen, then silent
    fresh = pipe.on_frame(image, 1.5, 1.5, altitude_agl=ALTITUDE_AGL, camera=CAMERA)
    assert fresh.vision_fix is not None                  # a trusted position 0.3 s old
    # 12 s later (the track was lost meanwhile) the disc is small but the match is alone
    late = pipe.on_frame(image, 13.5, 13.5, altitude_agl=ALTITUDE_AGL, camera=CAMERA)
    assert pipe.prior(13.5).radius_m < PipelineConfig().confirm_above_radius_m
    assert late.result.verified and late.vision_fix is None
    assert 'unconfirmed' in late.result.reason
    agreed = pipe.on_frame(image, 14.0, 14.0, altitude_agl=ALTITUDE_AGL, camera=CAMERA)
    assert agreed.vision_fix is not None


def test_matches_after_a_lost_track_must_agree_with_the_dead_reckoning(world):
    localizer, raster = world
    pipe = FallbackPipeline(localizer, GnssMonitor(),
                            PipelineConfig(prior_radius_m=200.0, confirm_after_gap_s=10.0))
    still = Odometry(np.array([0.0, 0.0, 100.0]), np.zeros(3))
    _, lat, lon = view(raster, 0.0, 0.0)
    for k in range(3):                                   # GNSS at east 0, then silent
        pipe.on_gnss(gnss_fix(1.0 + 0.1 * k, lat, lon), 1.0 + 0.1 * k, odometry=still)

    def frame(east: float, now: float):
        image, _, _ = view(raster, east, 0.0)
        return pipe.on_frame(image, now, now, altitude_agl=ALTITUDE_AGL, camera=CAMERA,
                             odometry=still)

    # 12 s later the odometry says the aircraft has not moved: two matches 60 m east agree
    # with each other (a map feature that moved would do that) but not with it
    for now in (13.0, 13.5):
        off = frame(60.0, now)
        assert off.result.verified and off.vision_fix is None and off.motion == 'odometry input'
        assert 'from the dead-reckoned position' in off.result.reason
    assert frame(0.0, 14.0).vision_fix is None           # agrees: the candidate
    assert frame(0.0, 14.5).vision_fix is not None


def test_tilt_sigma_is_learnt_from_healthy_gnss_and_used_while_lost(world):
    localizer, raster = world
    pipe = make_pipeline(localizer)
    image, lat, lon = view(raster, 10.0, 10.0)
    configured = pipe.config.tilt_sigma_deg
    for k in range(6):
        t = 2.0 * k
        pipe.on_gnss(gnss_fix(t - 0.05, lat, lon), t - 0.05)
        pipe.on_gnss(gnss_fix(t + 0.05, lat, lon), t + 0.05)
        out = pipe.on_frame(image, t, t + 0.06, altitude_agl=ALTITUDE_AGL, camera=CAMERA)
        assert out.gnss_status.ok and out.vision_fix is not None
    assert pipe.tilt_calibration[False].pairs == 6
    # a rendered view seen from straight above: vision and GNSS agree better than a 1 deg
    # tilt would let them
    learnt = pipe.tilt_sigma_deg(attitude_known=False)
    assert learnt < configured
    lost = pipe.on_frame(image, 20.0, 20.0, altitude_agl=ALTITUDE_AGL, camera=CAMERA)
    assert not lost.gnss_status.ok and lost.tilt_sigma_deg == pytest.approx(learnt)
    assert pipe.tilt_calibration[False].pairs == 6               # nothing learnt while lost
    assert lost.covariance_terms_m['tilt'] == pytest.approx(
        ALTITUDE_AGL * math.tan(math.radians(learnt)))


def test_pipeline_config_refuses_bad_values():
    with pytest.raises(ValueError, match='prior_radius_m'):
        PipelineConfig(prior_radius_m=0.0)
    with pytest.raises(ValueError, match='ground_altitude_m'):
        PipelineConfig(ground_altitude_m=math.inf)


def test_search_disc_is_the_inner_one_when_trusted_discs_nest():
    from spikevim_ros.pipeline import _combine_discs

    old_gnss = (55.5422, 38.2474, 900.0)         # 60 s old: a wide disc
    fresh_vision = (55.5430, 38.2480, 110.0)     # inside it
    assert _combine_discs(old_gnss, fresh_vision) == fresh_vision
    assert _combine_discs(fresh_vision, old_gnss) == fresh_vision
    spoofed = (55.5522, 38.2474, 100.0)          # 1.1 km away: the discs disagree
    lat, lon, radius = _combine_discs(fresh_vision, spoofed)
    gap = horizontal_distance_m(fresh_vision[0], fresh_vision[1], spoofed[0], spoofed[1])
    assert radius == pytest.approx(0.5 * (gap + 110.0 + 100.0), rel=3e-3)  # sphere vs WGS-84
    assert horizontal_distance_m(lat, lon, fresh_vision[0], fresh_vision[1]) + 110.0 \
        == pytest.approx(radius, rel=3e-3)
    # GNSS quiet for 60 s, the aircraft 900 m on at full speed: its fix sits at the old disc's
    # edge, overlapping it; a newer verified vision fix then bounds the search alone
    edge = (55.5503, 38.2474, 110.0)
    assert horizontal_distance_m(edge[0], edge[1], old_gnss[0], old_gnss[1]) + 110.0 > 900.0
    assert _combine_discs(edge, old_gnss, a_is_newer=True) == edge
    assert _combine_discs(edge, old_gnss)[2] > 900.0               # GNSS newer: both held
    assert _combine_discs(fresh_vision, spoofed, a_is_newer=True)[2] > 110.0   # disagree


def test_prior_moves_with_valid_odometry():
    lat, lon = 47.0, 8.0
    pipe = FallbackPipeline(None, GnssMonitor(), PipelineConfig(
        prior_radius_m=50.0, prior_growth_m_s=15.0, odometry_drift=0.05))
    start = Odometry(np.array([10.0, 5.0, 100.0]), np.zeros(3))
    pipe.on_gnss(gnss_fix(10.0, lat, lon), 10.0, start)
    sigma = 3.0 * pipe.status.last_good_fix.horizontal_sigma_m
    moved = Odometry(np.array([210.0, 5.0, 100.0]), np.array([10.0, 0.0, 0.0]))
    prior = pipe.prior(30.0, moved)                                   # 200 m east in 20 s
    assert horizontal_distance_m(lat, lon, prior.latitude, prior.longitude) == \
        pytest.approx(200.0, abs=2.0)
    assert prior.radius_m == pytest.approx(50.0 + sigma + 0.05 * 200.0 + 0.5 * 20.0)
    without = pipe.prior(30.0)                                        # no odometry: a disc
    assert (without.latitude, without.longitude) == (lat, lon)
    assert without.radius_m == pytest.approx(50.0 + sigma + 15.0 * 20.0)
    reset = Odometry(moved.position, moved.velocity_enu, epoch=1)     # frame jumped since
    assert pipe.prior(30.0, reset).radius_m == pytest.approx(without.radius_m)
    coasted = Odometry(moved.position, moved.velocity_enu, variance_m2=12.0 ** 2)   # 12 m
    assert pipe.prior(30.0, coasted).radius_m == pytest.approx(prior.radius_m + 3.0 * 12.0)


def test_encoder_frames_go_down_the_ranking_then_start_over(world):
    from spikevim_ros.localization import Localizer, LocalizerConfig

    localizer, _ = world
    one_window = Localizer(localizer.gallery, localizer.encoder,
                           LocalizerConfig(max_windows=1, retrieval_fallback=False,
                                           retry_after_frames=50))
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    aligned = []
    for _ in range(len(localizer.gallery) + 1):
        result = one_window.localize(noise, altitude_agl=ALTITUDE_AGL, camera=CAMERA)
        assert result.encoder_ran and not result.fix and len(result.windows_aligned) == 1
        aligned.append(result.windows_aligned[0])
    # each frame aligns a window the earlier ones did not, until none is left: then from the top
    repeat = next(k for k, tile in enumerate(aligned) if tile in aligned[:k])
    assert repeat >= 2 and aligned[repeat] == aligned[0]
    assert len(set(aligned[:repeat])) == repeat


def test_visual_odometry_stands_in_without_an_odometry_input(world):
    localizer, raster = world
    pipe = make_pipeline(localizer)
    first, lat, lon = view(raster, -10.0, 0.0)
    feed_good(pipe, lat, lon, 0.5, 3)                     # a prior: the match is published
    result, prior, odometry = pipe.localize(first, 1.0, ALTITUDE_AGL, CAMERA)
    assert odometry is None and result.verified          # no heading yet: nothing to move with
    assert pipe.conclude(result, prior, 1.0, 1.0, ALTITUDE_AGL).vision_fix is not None
    second, _, _ = view(raster, 0.0, 0.0)
    _, _, odometry = pipe.localize(second, 2.0, ALTITUDE_AGL, CAMERA)
    assert odometry is not None and pipe.visual_odometry.problem is None
    np.testing.assert_allclose(odometry.position[:2], [10.0, 0.0], atol=1.5)
    given = Odometry(np.array([1.0, 2.0, 3.0]), np.zeros(3))
    assert pipe.localize(second, 3.0, ALTITUDE_AGL, CAMERA, None, given)[2] is given
