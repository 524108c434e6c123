"""ROS-free GNSS health monitoring: loss detection, spoofing gate and hysteresis."""

from spikevim_ros.gnss.monitor import GnssHealth, GnssMonitor, GnssMonitorConfig, GnssStatus
from spikevim_ros.gnss.spoofing import GateResult, mahalanobis_gate

__all__ = ['GateResult', 'GnssHealth', 'GnssMonitor', 'GnssMonitorConfig', 'GnssStatus',
           'mahalanobis_gate']
