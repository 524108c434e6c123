"""The content of the ``~/gnss_state`` DiagnosticStatus, shared by the node and the replay."""

from __future__ import annotations

from spikevim_ros.gnss.monitor import GnssStatus

OK_LEVEL, WARN_LEVEL = 0, 1   # diagnostic_msgs/DiagnosticStatus OK and WARN


def gnss_state_fields(status: GnssStatus, now: float) -> dict:
    """Return level, name, message, hardware_id and the key/value strings of ``~/gnss_state``."""
    return {'level': OK_LEVEL if status.ok else WARN_LEVEL, 'name': 'gnss',
            'message': f'{status.health.value}: {status.reason}',
            'hardware_id': 'primary_gnss',
            'values': {'health': status.health.value, 'reason': status.reason,
                       'since': f'{status.since:.3f}',
                       'last_good_fix_age_s': f'{status.last_good_age(now):.3f}'}}
