"""Benchmarks: `python -m benchmarks` runs every module here and prints its figures."""
