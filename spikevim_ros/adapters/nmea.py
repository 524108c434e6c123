"""
NMEA 0183 GGA and GST sentences from a :class:`~spikevim_ros.fix.GeoFix` (pure Python).

GGA carries the position, GST the 1-sigma error ellipse and per-axis sigmas taken from the fix's
ENU covariance. NMEA altitudes are above mean sea level: the NavSatFix altitude is ellipsoidal, so
``geoid_separation_m`` (N, ellipsoid minus geoid at the flying site) is subtracted and reported.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import IO

import numpy as np

from spikevim_ros.fix import STATUS_FIX, STATUS_GBAS_FIX, STATUS_SBAS_FIX, GeoFix

GGA_QUALITY = {STATUS_FIX: 1, STATUS_SBAS_FIX: 2, STATUS_GBAS_FIX: 2}


def checksum(body: str) -> str:
    """Return the two-hex-digit XOR checksum of the text between '$' and '*'."""
    value = 0
    for char in body.encode('ascii'):
        value ^= char
    return f'{value:02X}'


def sentence(body: str) -> str:
    """Wrap a sentence body as ``$BODY*CS`` (no line ending)."""
    return f'${body}*{checksum(body)}'


def parse_sentence(text: str) -> list[str]:
    """Split a sentence into fields after checking its checksum; raise ValueError if invalid."""
    text = text.strip()
    if not text.startswith('$') or '*' not in text:
        raise ValueError(f'not an NMEA sentence: {text!r}')
    body, _, given = text[1:].rpartition('*')
    if checksum(body) != given.upper():
        raise ValueError(f'bad NMEA checksum in {text!r} (expected {checksum(body)})')
    return body.split(',')


def _utc_time(stamp: float) -> str:
    moment = datetime.fromtimestamp(max(stamp, 0.0), tz=timezone.utc)
    return f'{moment:%H%M%S}.{moment.microsecond // 10000:02d}'


def _angle(value: float, degree_digits: int, hemispheres: str) -> tuple[str, str]:
    degrees = int(abs(value))
    minutes = (abs(value) - degrees) * 60.0
    text = f'{degrees:0{degree_digits}d}{minutes:08.5f}'
    return text, hemispheres[0] if value >= 0 else hemispheres[1]


def gga(fix: GeoFix, satellites: int = 12, geoid_separation_m: float = 0.0,
        talker: str = 'GP', hdop_per_metre: float = 0.2) -> str:
    """
    Return a GGA sentence for ``fix``.

    HDOP is not measured by a vision fix; it is reported as the horizontal 1-sigma error times
    ``hdop_per_metre`` (0.2: a 5 m sigma reads as HDOP 1.0). A fix without a position is written
    with quality 0 and empty position fields.
    """
    quality = GGA_QUALITY.get(fix.status, 0) if fix.has_position else 0
    if quality == 0:
        body = f'{talker}GGA,{_utc_time(fix.stamp)},,,,,0,00,,,M,,M,,'
        return sentence(body)
    lat, ns = _angle(fix.latitude, 2, 'NS')
    lon, ew = _angle(fix.longitude, 3, 'EW')
    sigma = fix.horizontal_sigma_m
    hdop = f'{max(sigma * hdop_per_metre, 0.1):.1f}' if math.isfinite(sigma) else ''
    altitude = fix.altitude - geoid_separation_m
    body = (f'{talker}GGA,{_utc_time(fix.stamp)},{lat},{ns},{lon},{ew},{quality},'
            f'{min(satellites, 99):02d},{hdop},{altitude:.2f},M,{geoid_separation_m:.2f},M,,')
    return sentence(body)


def gst(fix: GeoFix, talker: str = 'GP') -> str:
    """Return a GST sentence: error ellipse (semi-axes, orientation) and lat/lon/alt sigmas."""
    cov = np.asarray(fix.covariance_enu, dtype=np.float64)
    if math.isnan(fix.horizontal_sigma_m):
        return sentence(f'{talker}GST,{_utc_time(fix.stamp)},,,,,,,')
    horizontal = 0.5 * (cov[:2, :2] + cov[:2, :2].T)
    values, vectors = np.linalg.eigh(horizontal)
    major_east, major_north = vectors[:, 1]
    orientation = math.degrees(math.atan2(major_east, major_north)) % 180.0
    major, minor = (math.sqrt(max(v, 0.0)) for v in values[::-1])
    sig_lat, sig_lon = math.sqrt(max(cov[1, 1], 0.0)), math.sqrt(max(cov[0, 0], 0.0))
    sig_alt = f'{math.sqrt(cov[2, 2]):.2f}' if math.isfinite(cov[2, 2]) and cov[2, 2] >= 0 else ''
    body = (f'{talker}GST,{_utc_time(fix.stamp)},,{major:.2f},{minor:.2f},{orientation:.1f},'
            f'{sig_lat:.2f},{sig_lon:.2f},{sig_alt}')
    return sentence(body)


def parse_gga_position(text: str) -> tuple[float, float, float]:
    """Return (latitude, longitude, altitude above MSL) from a GGA sentence."""
    fields = parse_sentence(text)
    if not fields[0].endswith('GGA') or not fields[2]:
        raise ValueError(f'not a GGA sentence with a position: {text!r}')
    lat = int(fields[2][:2]) + float(fields[2][2:]) / 60.0
    lon = int(fields[4][:3]) + float(fields[4][3:]) / 60.0
    return (lat if fields[3] == 'N' else -lat, lon if fields[5] == 'E' else -lon,
            float(fields[9]))


class NmeaSink:
    """Write GGA + GST lines to a serial port (pyserial when it imports) or any writable file."""

    def __init__(self, device: str, baud: int = 115200) -> None:
        self.device = device
        self._stream: IO[bytes]
        try:
            import serial
        except ImportError:
            self._stream = open(device, 'ab', buffering=0)
            self.kind = 'file'
        else:
            self._stream = serial.Serial(device, baudrate=baud, timeout=0)
            self.kind = 'serial'

    def write_fix(self, fix: GeoFix, geoid_separation_m: float = 0.0) -> None:
        """Write the GGA and GST sentences of one fix."""
        lines = [gga(fix, geoid_separation_m=geoid_separation_m), gst(fix)]
        self._stream.write(''.join(f'{line}\r\n' for line in lines).encode('ascii'))

    def close(self) -> None:
        """Close the device."""
        self._stream.close()
