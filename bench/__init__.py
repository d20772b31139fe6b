"""Benchmarks of the platform on a real Kafka broker and a real PostgreSQL.

Run them with `make bench` (scripts/bench.sh starts the bench stack and runs
`python -m bench`). Each benchmark is a module of this package with a `NAME`, a
one-line `DESCRIPTION` and `run(ctx) -> Iterable[Figure | Check]`; bench/__main__.py
lists them in MODULES, and prints a benchmark's figures only once all its checks passed.
"""
