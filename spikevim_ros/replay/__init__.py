"""Offline replay of ROS 2 bags through the node's pipeline: metrics, plots, reports."""
