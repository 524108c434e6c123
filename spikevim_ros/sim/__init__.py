"""Simulated flights over georeferenced maps, GNSS failure modes, ROS 2 bags without ROS."""
