"""Throughput benchmarks (run as modules, see each file's docstring)."""
