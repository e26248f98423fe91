"""Benchmarks: `make bench` runs them and writes their figures under docs/benchmarks/."""
