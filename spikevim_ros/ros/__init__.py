"""The thin ROS 2 layer: message conversion and node wiring only; logic lives in the core."""
