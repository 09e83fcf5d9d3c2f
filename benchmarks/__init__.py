"""Benchmarks: each prints its intermediate figures and its ratios on the last line."""
