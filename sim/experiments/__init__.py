"""Experiments: many runs of a scenario (variants, replications, sweeps) and their comparison."""
