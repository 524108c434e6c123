"""
The node's aircraft inputs during a replay: bag topics -> validated attitude and height.

Reads the autopilot topics by the node's input names (remapped to the bag's topics), validates
them with the same :class:`~spikevim_ros.aircraft.AircraftInputs`, and chooses the height and
camera for each frame the way the node does (``--params-file`` gives the node's settings).
Counts which search path each frame with a known prior took.
"""

from __future__ import annotations

from collections import Counter

from spikevim_ros.aircraft import AircraftInputs
from spikevim_ros.aircraft.messages import INPUT_TYPES, feed_input
from spikevim_ros.camera import PinholeCamera
from spikevim_ros.camera_messages import camera_for_image
from spikevim_ros.localization.query import IN_FLIGHT
from spikevim_ros.ros import parameters


class ReplayAircraft:
    """Aircraft inputs, height and camera choice, and search-path counts of one replay."""

    def __init__(self, input_topics: dict[str, str], params: dict | None = None,
                 fixed_altitude_m: float | None = None,
                 scenario_altitude_m: float | None = None) -> None:
        """``input_topics``: node input name (imu/data, rangefinder...) -> bag topic."""
        self.params = params
        self.inputs = AircraftInputs(parameters.inputs_config(params or parameters.defaults()))
        self.wanted = {topic: name for name, topic in input_topics.items() if topic}
        self.topics: dict[str, str] = {}
        self.fixed_altitude_m = fixed_altitude_m
        self.scenario_altitude_m = scenario_altitude_m
        self.paths: Counter = Counter()
        self.rejected: Counter = Counter()

    def select(self, types: dict[str, str]) -> list[str]:
        """Keep the input topics that the bag holds with the right type; return them."""
        self.topics = {topic: name for topic, name in self.wanted.items()
                       if types.get(topic) == INPUT_TYPES[name]}
        return list(self.topics)

    def feed(self, topic: str, msg, now: float) -> None:
        """Give one bag message of an input topic to the validation."""
        if feed_input(self.inputs, self.topics[topic], msg, now) is not None:
            self.rejected[self.topics[topic]] += 1

    def on_gnss(self, altitude: float, stamp: float, now: float, status) -> None:
        """Offer a primary GNSS altitude (used while healthy, when height_from_gnss is on)."""
        self.inputs.on_gnss_altitude(altitude, stamp, now, healthy=bool(status and status.ok))

    def frame_inputs(self, now: float, width: int, height: int,
                     camera: PinholeCamera | None) -> tuple:
        """Return (altitude_agl, camera, attitude_deg) for a frame, as the node chooses them."""
        return (self._altitude(now), self._camera(camera, width, height),
                self.inputs.camera_attitude(now))

    def _altitude(self, now: float) -> float | None:
        if self.fixed_altitude_m is not None:
            return self.fixed_altitude_m
        measured = self.inputs.height(now)
        if measured is not None:
            return measured[0]
        if self.params is None:       # without the node's settings: the simulated altitude
            return self.scenario_altitude_m
        default = self.params['default_altitude_agl']
        return default if default > 0.0 else None

    def _camera(self, camera: PinholeCamera | None, width: int, height: int
                ) -> PinholeCamera | None:
        hfov = (self.params or {}).get('camera_hfov_deg', 0.0)
        if camera is None and hfov >= 1.0:
            camera = PinholeCamera.from_hfov(width, height, hfov)
        return camera_for_image(camera, width, height)

    def note(self, output) -> None:
        """Count the search path of a frame whose prior was known."""
        if output.prior is not None:
            self.paths[output.search_path] += 1

    def summary(self) -> dict:
        """Return the counts for metrics.json."""
        with_prior = sum(self.paths.values())
        return {'input_topics': dict(self.topics), 'rejected_messages': dict(self.rejected),
                'frames_with_prior': with_prior, 'search_paths': dict(self.paths),
                'in_flight_fraction': self.paths[IN_FLIGHT] / with_prior if with_prior else
                None}
