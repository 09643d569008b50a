"""Synthetic stereo scenes with known sources and trajectories, for benchmarks, tests and the demo."""
