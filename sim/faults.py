"""The fault timeline: what is broken, for whom, at each moment of a run.

Picture the status page of an LLM provider on a bad day. At 23:16 the API goes dark (an *outage*: every call
fails, at once or after hanging until the client gives up); at 01:36 it is "mostly back" but a share of calls
still fail (*error_rate*), slowly fewer as the fix rolls out (a *ramp*). Another day calls are merely slow
(*latency*), or the provider's rate-limit service misbehaves and answers healthy traffic with 429s while the
real limits shrink (*rate_limit*), or nothing visibly fails but some answers are quietly worse (*degradation*:
a routing bug sends a share of requests to the wrong servers). And sometimes the fault is ours: a runaway agent
loop or a prompt that balloons makes requests cost many times their usual tokens (*cost_spike*).

:class:`FaultTimeline` holds a scenario's faults (:class:`sim.config.FaultConfig`) and answers, as a plain
method with the time passed in, the two questions the model asks:

- :meth:`FaultTimeline.call_effect` — for one provider attempt now, on this provider/model: is it forced to
  fail (and how, and after how long), how much slower is it, how much smaller are the provider's limits, how
  much likelier is a bad answer? ``None`` when no fault touches the call, which is nearly always, so that path
  is a bounds check and a dictionary lookup.
- :meth:`FaultTimeline.request_effect` — for one user request arriving now: does a cost spike hit it?

How the fields of a fault act:

- ``targets``: a fault matches a call when its targets are empty (everything), or list the call's provider
  name, or its ``provider/model`` label, or its provider's region (``region:eastus``, expanded to the
  providers in it; windows and events name those providers).
- ``ramp``: (offset from start, factor) points, linear between them, the first factor before the first point
  and the last after the last; no points = 1. It scales ``share`` (outage, error_rate, rate_limit,
  cost_spike), the excess latency ``latency_multiplier - 1``, and the degradation probabilities. It does
  **not** scale ``limit_factor``: a shrunken limit is a setting of the provider's limiter, not a share of
  calls, and a ramp over it would need a meaning ("limits come back gradually") better given by several
  faults in a row.
- ``share`` of outage, error_rate and rate_limit: each call is forced with probability ``min(1, share x
  ramp)``, from the fault's own random stream ``faults/<index>`` (so adding a fault to a scenario does not
  reshuffle the others' draws). A certain fault (share x ramp >= 1) and an idle one (<= 0) draw nothing, so a
  full outage consumes no random numbers. When several forcing faults match, the one that started first (then
  the one listed first) is asked first and the first that forces wins; later ones are not drawn.
- The forced call ends as CALL_STATUS ``error`` (outage ``fail_fast``, error_rate), ``timeout`` (outage
  ``hang``, after ``math.inf`` seconds meaning "when the client's timeout fires") or ``rate_limited``
  (rate_limit: a spurious 429), after ``fail_after_s``.
- A ``rate_limit`` fault therefore does two things: it multiplies the provider's limits by ``limit_factor``
  and it answers ``share`` of calls with a 429 regardless of the limits (by default none: ``share`` of a
  rate_limit fault defaults to 0, of an outage to 1; error_rate and cost_spike faults must give one).
- ``cost_spike`` faults live in the application, not at a provider: their targets are ignored, they never
  shape a call, and :meth:`request_effect` draws per request whether a spike hits it.

Time normally moves forward; the set of faults active now is cached and rebuilt only when ``now`` leaves the
interval between two consecutive fault boundaries (in either direction, so asking about an earlier time is
answered correctly too). A fault is active on ``[start, start + duration)``.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from typing import Callable, Mapping, NamedTuple

import numpy as np

from sim.config import FaultConfig
from sim.record import CALL_STATUS, Event

_FORCING_STATUS = {"error_rate": CALL_STATUS["error"], "rate_limit": CALL_STATUS["rate_limited"]}
_OUTAGE_STATUS = {"fail_fast": CALL_STATUS["error"], "hang": CALL_STATUS["timeout"]}
_NO_MATCH: tuple = ()


def ramp_scale(ramp: list[tuple[float, float]], offset_s: float) -> float:
    """The ramp factor ``offset_s`` seconds after a fault's start (piecewise-linear, flat outside the points)."""
    if not ramp:
        return 1.0
    return _interpolate([float(o) for o, _ in ramp], [float(f) for _, f in ramp], offset_s)


def _interpolate(offsets: list[float], factors: list[float], offset_s: float) -> float:
    if offset_s <= offsets[0]:
        return factors[0]
    if offset_s >= offsets[-1]:
        return factors[-1]
    j = bisect_right(offsets, offset_s)      # offsets[j-1] <= offset_s < offsets[j], so no zero-width step
    o0, o1, f0 = offsets[j - 1], offsets[j], factors[j - 1]
    return f0 + (factors[j] - f0) * (offset_s - o0) / (o1 - o0)


class CallEffect:
    """What the active faults do to one provider attempt (neutral values when they do nothing to it)."""

    __slots__ = ("forced_status", "forced_after_s", "latency_multiplier", "limit_factor",
                 "hallucination_add", "parse_failure_add", "fault_names")

    def __init__(self, forced_status: int | None = None, forced_after_s: float = 0.0,
                 latency_multiplier: float = 1.0, limit_factor: float = 1.0, hallucination_add: float = 0.0,
                 parse_failure_add: float = 0.0, fault_names: tuple[str, ...] = ()):
        self.forced_status = forced_status          # None, or a CALL_STATUS code the attempt ends with
        self.forced_after_s = forced_after_s        # time to that failure; math.inf = the client's timeout
        self.latency_multiplier = latency_multiplier
        self.limit_factor = limit_factor            # provider limits x this (rate_limit faults)
        self.hallucination_add = hallucination_add  # added probability of a wrong answer, <= 1
        self.parse_failure_add = parse_failure_add  # added probability of an unparseable answer, <= 1
        self.fault_names = fault_names              # every active fault matching the call

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"CallEffect({fields})"


class FaultWindow(NamedTuple):
    start_s: float
    end_s: float
    kind: str
    name: str
    targets: tuple[str, ...]


class _Fault:
    """One fault, unpacked for the hot path."""

    __slots__ = ("index", "config", "kind", "start_s", "end_s", "offsets", "factors", "name", "targets", "target_list",
                 "uniform", "forced_status", "forced_after_s", "share", "latency_excess", "limit_factor",
                 "hallucination_prob", "parse_failure_prob")

    def __init__(self, index: int, config: FaultConfig, uniform: Callable[[], float],
                 regions: Mapping[str, tuple[str, ...]] | None = None):
        self.index = index
        self.config = config
        self.kind = config.kind
        self.start_s = float(config.start)
        self.end_s = float(config.end)
        self.offsets = [float(o) for o, _ in config.ramp]
        self.factors = [float(f) for _, f in config.ramp]
        self.name = config.name or f"{config.kind}-{index}"
        self.target_list = expand_regions(config.targets, regions)
        self.targets = frozenset(self.target_list)
        self.uniform = uniform
        self.share = float(config.effective_share)
        self.latency_excess = float(config.latency_multiplier) - 1.0
        self.limit_factor = float(config.limit_factor) if config.kind == "rate_limit" else 1.0
        self.hallucination_prob = float(config.hallucination_prob)
        self.parse_failure_prob = float(config.parse_failure_prob)
        if config.kind == "outage":
            self.forced_status = _OUTAGE_STATUS[config.mode]
            self.forced_after_s = math.inf if config.mode == "hang" else float(config.fail_after_s)
        else:
            self.forced_status = _FORCING_STATUS.get(config.kind)
            self.forced_after_s = float(config.fail_after_s)

    def scale(self, now: float) -> float:
        return _interpolate(self.offsets, self.factors, now - self.start_s) if self.offsets else 1.0

    def forces(self, now: float) -> bool:
        """Whether this call is hit; draws from the fault's stream only when the outcome is uncertain."""
        p = self.share * self.scale(now)
        if p >= 1.0:
            return True
        if p <= 0.0:
            return False
        return self.uniform() < p

    def matches(self, provider: str, model_label: str) -> bool:
        return not self.targets or provider in self.targets or model_label in self.targets


def expand_regions(targets, regions: Mapping[str, tuple[str, ...]] | None) -> tuple[str, ...]:
    """``targets`` with each ``region:NAME`` replaced by the providers in that region, order kept, once each."""
    out: list[str] = []
    for target in targets:
        for name in (regions or {}).get(target, (target,)):
            if name not in out:
                out.append(name)
    return tuple(out)


class FaultTimeline:
    """A scenario's faults as a function of time (see the module docstring)."""

    def __init__(self, faults: list[FaultConfig], uniform_factory: Callable[[str], Callable[[], float]],
                 regions: Mapping[str, tuple[str, ...]] | None = None):
        made = [_Fault(i, f, uniform_factory(f"faults/{i}"), regions) for i, f in enumerate(faults)]
        self._faults = sorted(made, key=lambda f: (f.start_s, f.index))      # start order
        self._boundaries = sorted({t for f in made for t in (f.start_s, f.end_s)})
        # The cache: the faults active on [lo, hi), and per model label the call faults among them that match
        # it. It starts empty and invalid (lo > hi), so the first question fills it.
        self._lo, self._hi = math.inf, -math.inf
        self._active: list[_Fault] = []
        self._plans: dict[str, tuple] = {}
        # kinds asked about on every request or attempt: without any, the answer is known without a lookup
        self._has_spikes = any(f.kind == "cost_spike" for f in made)
        self._has_limit_cuts = any(f.limit_factor != 1.0 for f in made)

    @property
    def faults(self) -> list[FaultConfig]:
        """The faults in start order."""
        return [f.config for f in self._faults]

    # ------------------------------------------------------------------ the cache of active faults
    def _refresh(self, now: float) -> None:
        i = bisect_right(self._boundaries, now)
        self._lo = self._boundaries[i - 1] if i > 0 else -math.inf
        self._hi = self._boundaries[i] if i < len(self._boundaries) else math.inf
        self._active = [f for f in self._faults if f.start_s <= now < f.end_s]
        self._plans = {}

    def active(self, now: float) -> list[FaultConfig]:
        """The faults active at ``now``, in start order."""
        if not self._lo <= now < self._hi:
            self._refresh(now)
        return [f.config for f in self._active]

    def scale(self, fault: FaultConfig, now: float) -> float:
        """``fault``'s ramp factor at ``now`` (1 when it has no ramp)."""
        return ramp_scale(fault.ramp, now - fault.start)

    # ------------------------------------------------------------------ per provider attempt
    def call_effect(self, provider: str, model_label: str, now: float) -> CallEffect | None:
        """What active faults do to an attempt on ``model_label`` ("provider/model") at ``now``; None if none.

        Each call may draw from the forcing faults' streams, so ask once per attempt and use the answer.
        """
        if not self._lo <= now < self._hi:
            self._refresh(now)
        plan = self._plans.get(model_label)
        if plan is None:
            plan = self._plans[model_label] = self._plan(provider, model_label)
        if not plan:
            return None
        return self._combine(plan[0], plan[1], now)

    def limit_factor(self, provider: str, model_label: str, now: float) -> float:
        """The product of active rate_limit faults' limit factors for this target (no random draws)."""
        if not self._has_limit_cuts:
            return 1.0
        if not self._lo <= now < self._hi:
            self._refresh(now)
        plan = self._plans.get(model_label)
        if plan is None:
            plan = self._plans[model_label] = self._plan(provider, model_label)
        factor = 1.0
        for f in plan[0] if plan else ():
            factor *= f.limit_factor
        return factor

    def _plan(self, provider: str, model_label: str) -> tuple:
        faults = tuple(f for f in self._active if f.kind != "cost_spike" and f.matches(provider, model_label))
        return (faults, tuple(f.name for f in faults)) if faults else _NO_MATCH

    @staticmethod
    def _combine(faults: tuple, names: tuple, now: float) -> CallEffect:
        forced, after, latency, limit, halluc, parse = None, 0.0, 1.0, 1.0, 0.0, 0.0
        for f in faults:
            if f.forced_status is not None:                    # outage, error_rate, rate_limit
                limit *= f.limit_factor                        # 1 unless rate_limit
                if forced is None and f.forces(now):
                    forced, after = f.forced_status, f.forced_after_s
            elif f.kind == "latency":
                latency *= 1.0 + f.latency_excess * f.scale(now)
            else:                                              # degradation
                s = f.scale(now)
                halluc += f.hallucination_prob * s
                parse += f.parse_failure_prob * s
        return CallEffect(forced, after, latency, limit, min(1.0, halluc), min(1.0, parse), names)

    # ------------------------------------------------------------------ per user request
    def request_effect(self, now: float) -> tuple[float, int] | None:
        """(token multiplier, extra LLM calls) for a request arriving at ``now``, or None if no spike hits it.

        Every active cost_spike is drawn independently (targets ignored: the spike is in the application);
        the request's multiplier is the product over the spikes that hit it, its extra calls the sum.
        """
        if not self._has_spikes:
            return None
        if not self._lo <= now < self._hi:
            self._refresh(now)
        multiplier, extra, hit = 1.0, 0, False
        for f in self._active:
            if f.kind == "cost_spike" and f.forces(now):
                multiplier *= f.config.token_multiplier
                extra += f.config.extra_llm_calls
                hit = True
        return (multiplier, extra) if hit else None

    # ------------------------------------------------------------------ for records and charts
    def windows(self) -> list[FaultWindow]:
        """Every fault's [start, end) window, in start order."""
        return [FaultWindow(f.start_s, f.end_s, f.kind, f.name, f.target_list) for f in self._faults]

    def events(self) -> list[Event]:
        """A ``fault_start`` and a ``fault_end`` :class:`~sim.record.Event` per fault and target, by time."""
        rows = []
        for f in self._faults:
            detail = f"{f.kind} {f.name} {_magnitude(f.config)}"
            for subject in f.target_list or ("all",):
                for time_s, kind in ((f.start_s, "fault_start"), (f.end_s, "fault_end")):
                    rows.append(Event(time_s, kind, subject, fault_kind=f.kind, fault_name=f.name, detail=detail))
        rows.sort(key=lambda row: (row.time_s, row.kind == "fault_start"))   # at a tie, an end before a start
        return rows

    def in_any_window(self, times_s: np.ndarray, kinds: str | list[str] | tuple[str, ...] | None = None
                      ) -> np.ndarray:
        """Boolean mask: which of ``times_s`` fall in some fault's window (of one of ``kinds``, if given)."""
        times = np.asarray(times_s, dtype=float)
        if isinstance(kinds, str):
            kinds = (kinds,)
        spans = sorted((f.start_s, f.end_s) for f in self._faults if kinds is None or f.kind in kinds)
        if not spans:
            return np.zeros(times.shape, dtype=bool)
        starts, ends = [spans[0][0]], [spans[0][1]]
        for s, e in spans[1:]:                    # merge overlapping or touching windows
            if s <= ends[-1]:
                ends[-1] = max(ends[-1], e)
            else:
                starts.append(s)
                ends.append(e)
        starts_a, ends_a = np.asarray(starts), np.asarray(ends)
        k = np.searchsorted(starts_a, times, side="right") - 1      # the last window starting at or before t
        return (k >= 0) & (times < ends_a[np.maximum(k, 0)])


def _magnitude(f: FaultConfig) -> str:
    """The key numbers of a fault, for its event detail."""
    if f.kind == "outage":
        text = f"share={f.effective_share:.2f} mode={f.mode}"
    elif f.kind == "error_rate":
        text = f"share={f.effective_share:.2f}"
    elif f.kind == "latency":
        text = f"latency_multiplier={f.latency_multiplier:g}"
    elif f.kind == "rate_limit":
        text = f"share={f.effective_share:.2f} limit_factor={f.limit_factor:g}"
    elif f.kind == "degradation":
        text = f"hallucination_prob={f.hallucination_prob:g} parse_failure_prob={f.parse_failure_prob:g}"
    else:
        text = f"share={f.effective_share:.2f} token_multiplier={f.token_multiplier:g} extra_llm_calls={f.extra_llm_calls}"
    return text + (" ramped" if f.ramp else "")
