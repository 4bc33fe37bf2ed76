"""Offline calibration: the model's parameters checked against published and measured references.

Nothing here runs inside a simulation. :mod:`sim.calibration.similarity` samples the similarity model's pair
cosines and runs cache-only benchmarks against real MiniLM question pairs and GPTCache's benchmark;
:mod:`sim.calibration.routing` draws the quality model's cost/quality curves against RouteLLM's published
points. :mod:`sim.calibration.provider_fit` fits a provider's latency, error rates and limits from a log of
calls (:mod:`sim.calibration.call_logs` reads a gateway's CSV or the simulator's own ``calls`` frame). The
experiment ``calibration`` (sim/experiments/registry.py) writes their tables, and
:mod:`sim.report.calibration_charts` draws them.
"""
