"""Benchmarks behind ``mtl bench``: each prints its figure and a ratio against a baseline run alongside."""
