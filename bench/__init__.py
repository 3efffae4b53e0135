"""Benchmarks for durable_local (docs: /work/shared/docs/PERF.md): ``python -m bench``."""
