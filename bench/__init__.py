"""Benchmarks of the optimiser against the greedy baselines and the upper bound (`python -m bench`)."""
