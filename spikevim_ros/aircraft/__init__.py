"""What the aircraft knows (attitude, height above ground, odometry), validated before use."""

from spikevim_ros.aircraft.attitude import CameraMount, camera_attitude_deg
from spikevim_ros.aircraft.inputs import AircraftInputs, AircraftInputsConfig

__all__ = ['AircraftInputs', 'AircraftInputsConfig', 'CameraMount', 'camera_attitude_deg']
