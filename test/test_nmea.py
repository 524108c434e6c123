"""NMEA GGA/GST sentences and MAVLink GPS_INPUT fields from fixes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikevim_ros.adapters.gps_input import (FIX_TYPE_3D, FIX_TYPE_NO_FIX, IGNORE_VEL_HORIZ,
                                             gps_input_fields, gps_week_time)
from spikevim_ros.adapters.nmea import (NmeaSink, gga, gst, parse_gga_position,
                                        parse_sentence)
from spikevim_ros.fix import (COVARIANCE_TYPE_APPROXIMATED, COVARIANCE_TYPE_UNKNOWN,
                              STATUS_NO_FIX, GeoFix)

STAMP = 1700000000.25  # 2023-11-14T22:13:20.25Z


def fix(lat=55.5423456, lon=38.2474321, alt=181.5, cov=np.diag([9.0, 4.0, 16.0]), **kw):
    return GeoFix(stamp=STAMP, latitude=lat, longitude=lon, altitude=alt, covariance_enu=cov,
                  covariance_type=kw.pop('cov_type', COVARIANCE_TYPE_APPROXIMATED), **kw)


def test_checksum_of_a_textbook_sentence():
    fields = parse_sentence('$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47')
    assert fields[0] == 'GPGGA' and fields[9] == '545.4'
    with pytest.raises(ValueError, match='bad NMEA checksum'):
        parse_sentence('$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*48')


@pytest.mark.parametrize('lat, lon', [(55.5423456, 38.2474321), (-33.8688197, -151.2092955),
                                      (0.0000001, -0.5)])
def test_gga_round_trips_position_time_and_msl_altitude(lat, lon):
    text = gga(fix(lat, lon), geoid_separation_m=14.0)
    fields = parse_sentence(text)
    assert fields[1] == '221320.25'
    assert fields[6] == '1' and fields[7] == '12'
    assert fields[8] == '0.6'                     # 3 m sigma * 0.2
    assert fields[11] == '14.00'
    got_lat, got_lon, msl = parse_gga_position(text)
    assert got_lat == pytest.approx(lat, abs=2e-7) and got_lon == pytest.approx(lon, abs=2e-7)
    assert msl == pytest.approx(181.5 - 14.0)


def test_gga_without_position_is_quality_zero():
    fields = parse_sentence(gga(fix(lat=math.nan, status=STATUS_NO_FIX)))
    assert fields[6] == '0' and fields[2] == ''


def test_gst_reports_error_ellipse_and_axis_sigmas():
    fields = parse_sentence(gst(fix()))
    assert fields[0] == 'GPGST'
    major, minor, orientation = map(float, fields[3:6])
    assert (major, minor, orientation) == pytest.approx((3.0, 2.0, 90.0))
    assert list(map(float, fields[6:9])) == pytest.approx([2.0, 3.0, 4.0])
    # an ellipse elongated towards north-east
    rotated = np.array([[5.0, 4.0, 0.0], [4.0, 5.0, 0.0], [0.0, 0.0, 1.0]])
    fields = parse_sentence(gst(fix(cov=rotated)))
    assert float(fields[5]) == pytest.approx(45.0)
    assert float(fields[3]) == pytest.approx(3.0) and float(fields[4]) == pytest.approx(1.0)
    assert parse_sentence(gst(fix(cov_type=COVARIANCE_TYPE_UNKNOWN)))[3] == ''


def test_gps_week_and_gps_input_fields():
    assert gps_week_time(1704067200.0) == (2295, 86418000)   # 2024-01-01T00:00:00Z
    values = gps_input_fields(fix(), geoid_separation_m=10.0)
    assert values['fix_type'] == FIX_TYPE_3D
    assert values['lat'] == 555423456 and values['lon'] == 382474321
    assert values['alt'] == pytest.approx(171.5)
    assert values['horiz_accuracy'] == pytest.approx(3.0)
    assert values['vert_accuracy'] == pytest.approx(4.0)
    assert values['ignore_flags'] & IGNORE_VEL_HORIZ
    assert gps_input_fields(fix(lat=math.nan))['fix_type'] == FIX_TYPE_NO_FIX


def test_sink_writes_parseable_lines(tmp_path):
    target = tmp_path / 'nmea.txt'
    sink = NmeaSink(str(target))
    sink.write_fix(fix())
    sink.write_fix(fix(lat=55.6))
    sink.close()
    lines = target.read_bytes().decode('ascii').split('\r\n')
    assert [parse_sentence(line)[0] for line in lines if line] == ['GPGGA', 'GPGST'] * 2
    assert parse_gga_position(lines[2])[0] == pytest.approx(55.6)
