"""Benchmarks (`make bench`): render cost against a bare-program floor, and the deployment critical path."""
