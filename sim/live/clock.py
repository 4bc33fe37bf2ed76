"""The live clock: simulated seconds from the wall clock, optionally compressed.

A live run plays a scenario in real time, or faster: at ``speed`` 60 a simulated minute takes a wall second.
``sim serve`` and ``sim drive`` share this one clock so that a request the driver sends at simulated second
``t`` reaches the server when its clock also reads ``t``, give or take the loopback's latency. The clock
reads ``time.monotonic()`` (never the calendar clock, which may jump).
"""
from __future__ import annotations

import time


class LiveClock:
    """Simulated time = (monotonic wall time - ``start``) x ``speed``; ``start`` defaults to now."""

    def __init__(self, speed: float = 1.0, start: float | None = None):
        if not speed > 0:
            raise ValueError(f"speed: must be > 0, got {speed}")
        self.speed = float(speed)
        self.start = time.monotonic() if start is None else float(start)

    def now_sim(self) -> float:
        """Simulated seconds since the start."""
        return (time.monotonic() - self.start) * self.speed

    def wall_s(self, sim_s: float) -> float:
        """The wall seconds a simulated span of ``sim_s`` takes."""
        return sim_s / self.speed

    def wall_at(self, sim_s: float) -> float:
        """The ``time.monotonic()`` reading at which the simulated clock shows ``sim_s``."""
        return self.start + sim_s / self.speed
