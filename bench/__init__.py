"""Benchmarks for durable_local (workloads and results: docs/BENCHMARKS.md): ``python -m bench``."""
