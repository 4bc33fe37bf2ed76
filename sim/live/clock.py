"""The live clock: scenario time played in (optionally compressed) wall-clock time.

A scenario says "a 15-minute outage starts at minute 10"; a live run cannot wait an hour for it. Live mode
therefore plays scenario time ``speed`` times faster than the wall clock: at ``--speed 60`` one wall second
is one scenario minute, a provider's 1 s time to first token takes 1/60 s of real time, and the outage
arrives 10 wall seconds after the start. :class:`LiveClock` is the one conversion both sides use, ``sim
serve`` (when is "now" in the scenario, for the limits and the fault timeline) and ``sim drive`` (when to
send the next request, how long a measured latency was in scenario seconds):

* :meth:`LiveClock.now_sim` = (monotonic wall time - start) x speed, in scenario seconds;
* :meth:`LiveClock.wall_s` = scenario seconds / speed, a wall duration to sleep;
* :meth:`LiveClock.sim_s` = wall seconds x speed, a measured wall duration in scenario seconds;
* :meth:`LiveClock.wall_at` = the monotonic reading at which the scenario clock shows a time (to sleep until).

The clock reads ``time.monotonic`` (never the time of day, which can jump) unless another monotonic source is
injected, as the policies' clocks are.
"""
from __future__ import annotations

import time
from typing import Callable


class LiveClock:
    """Scenario time that runs ``speed`` times faster than the wall clock, from ``start`` (wall, monotonic)."""

    def __init__(self, speed: float = 1.0, start: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = float(speed)
        self._monotonic = monotonic
        self.start = monotonic() if start is None else float(start)

    def now_sim(self) -> float:
        """Scenario seconds since the start."""
        return (self._monotonic() - self.start) * self.speed

    def wall_s(self, sim_s: float) -> float:
        """The wall seconds that ``sim_s`` scenario seconds take."""
        return sim_s / self.speed

    def sim_s(self, wall_s: float) -> float:
        """The scenario seconds that ``wall_s`` wall seconds stand for."""
        return wall_s * self.speed

    def wall_at(self, sim_s: float) -> float:
        """The monotonic wall reading at which the scenario clock shows ``sim_s``."""
        return self.start + sim_s / self.speed
