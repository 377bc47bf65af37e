"""Benchmarks for the lent GPU machine (and CPU): one module per benchmark, results in BENCHMARKS.md."""
