"""What the charts of one run read from it: its interval, its end, and the windows and step functions that
its ``events`` describe -- fault windows, kill-switch levels, breaker states.

Everything is read from columns of the typed ``events`` frame (``kind``, ``subject``, ``to_state``,
``fault_kind``, ``fault_name``; see :class:`sim.record.Event`); ``detail`` is for people and never parsed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sim.metrics import BREAKER_STATE_CODE
from sim.record import events_frame
from sim.report.tables import is_missing

#: Kill-switch levels from best to worst.
KILL_SWITCH_LEVELS = ("normal", "soft", "hard")


# ----------------------------------------------------------------------------------------- run metadata

def scenario_attr(result, *names, default=None):
    """``result.scenario.<names...>``, or ``default`` where the chain breaks (a result without a scenario)."""
    obj = getattr(result, "scenario", None)
    for name in names:
        obj = getattr(obj, name, None)
        if obj is None:
            return default
    return obj


def chart_interval_s(result) -> float:
    """The run's timeseries interval: from its scenario, else from the spacing of its rows."""
    interval = scenario_attr(result, "output", "interval_s")
    if interval:
        return float(interval)
    t = result.timeseries["t_s"].to_numpy(float) if "t_s" in result.timeseries else np.array([])
    return float(np.median(np.diff(t))) if len(t) > 1 else 60.0


def run_end_s(result, interval_s: float) -> float:
    """When the run ended: its ``run_end`` event (or simulated time), else the end of the last interval."""
    duration = float(scenario_attr(result, "duration", default=0.0) or 0.0)
    ts = result.timeseries
    last_t = float(ts["t_s"].max()) if len(ts) and "t_s" in ts else None
    ev = result.events
    end = None
    if ev is not None and len(ev) and "time_s" in ev:
        ends = ev.loc[ev["kind"].astype(str) == "run_end", "time_s"]
        end = float(ends.max()) if len(ends) else None
    if end is None:
        end = (getattr(result, "summary", None) or {}).get("simulated_time_s")
    if is_missing(end):
        end = last_t + interval_s if last_t is not None else 0.0
    end = max(float(end), duration)
    if ev is not None and len(ev) and "time_s" in ev:
        end = max(end, float(ev["time_s"].max()))
    if last_t is not None and end <= last_t:
        end = last_t + interval_s
    return end if end > 0 else interval_s


def start_of_day_s(result) -> float | None:
    """The run's ``workload.start_time_of_day`` in seconds, or None when it is unset (0) or unknown."""
    start = scenario_attr(result, "workload", "start_time_of_day", default=None)
    return float(start) if start else None


def run_events(result) -> pd.DataFrame:
    """The run's ``events`` by time (an empty typed frame when it recorded none)."""
    ev = getattr(result, "events", None)
    if ev is None or not len(ev):
        return events_frame([])
    return ev.sort_values("time_s", kind="stable")


# ------------------------------------------------------------------------------------ windows from events

def fault_windows(events: pd.DataFrame, end_s: float) -> pd.DataFrame:
    """Pair ``fault_start`` / ``fault_end`` events of one fault and target into windows
    (subject, kind, name, start_s, end_s), ``kind`` being the fault's kind.

    A fault is identified by its target (``subject``), ``fault_kind`` and ``fault_name``; an end closes the
    earliest open start of the same fault; a start never ended runs to ``end_s``; an end with no open start
    is ignored.
    """
    columns = ["subject", "kind", "name", "start_s", "end_s"]
    if events is None or not len(events):
        return pd.DataFrame(columns=columns)
    ev = events[events["kind"].isin(["fault_start", "fault_end"])].sort_values("time_s", kind="stable")
    open_starts: dict[tuple[str, str, str], list[float]] = {}
    rows = []
    for time_s, kind, subject, fault_kind, name in zip(ev["time_s"], ev["kind"], ev["subject"],
                                                       ev["fault_kind"], ev["fault_name"]):
        key = (str(subject), str(fault_kind), "" if pd.isna(name) else str(name))
        pending = open_starts.setdefault(key, [])
        if kind == "fault_start":
            pending.append(float(time_s))
        elif pending:
            rows.append((*key, pending.pop(0), float(time_s)))
    for key, pending in open_starts.items():
        rows.extend((*key, start_s, max(float(end_s), start_s)) for start_s in pending)
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(["start_s", "subject"], kind="stable").reset_index(drop=True)


def kill_switch_windows(events: pd.DataFrame, end_s: float) -> list[tuple[float, float, str]]:
    """(start_s, end_s, level) for each stretch the kill switch spent above ``normal``, the level being the
    worst over all its spend windows (hour, day, month and per-user days alike)."""
    ks = events[events["kind"] == "kill_switch"].sort_values("time_s", kind="stable")
    rank = {level: i for i, level in enumerate(KILL_SWITCH_LEVELS)}
    window_level: dict[str, str] = {}
    stretches, level, since = [], "normal", 0.0
    for time_s, subject, to_state in zip(ks["time_s"], ks["subject"], ks["to_state"]):
        window_level[str(subject)] = str(to_state)
        worst = max(window_level.values(), key=rank.__getitem__)
        if worst == level:
            continue
        if level != "normal" and float(time_s) > since:
            stretches.append((since, float(time_s), level))
        level, since = worst, float(time_s)
    if level != "normal":
        stretches.append((since, max(float(end_s), since), level))
    return stretches


def breaker_series(ts: pd.DataFrame, events: pd.DataFrame, interval_s: float, end_s: float):
    """subject -> (times_s, state codes) as a step function: from the ``breaker`` events, which hold every
    transition (a breaker that flaps open / half-open within one interval included); a breaker without
    events from its ``*.breaker`` column, which samples one state per interval."""
    series = {}
    br = events[events["kind"] == "breaker"] if events is not None and len(events) else events_frame([])
    for subject, group in br.groupby("subject", sort=False, observed=True):
        levels = group["to_state"].astype(object).map(BREAKER_STATE_CODE).to_numpy(dtype=float)
        times = np.concatenate([[0.0], group["time_s"].to_numpy(float), [max(float(end_s), group["time_s"].max())]])
        states = np.concatenate([[0.0], levels, levels[-1:]])
        series[str(subject)] = (times, states)
    cols = [c for c in ts.columns if isinstance(c, str) and c.endswith(".breaker")
            and c[: -len(".breaker")] not in series]
    if cols and len(ts):
        last = float(ts["t_s"].iloc[-1])
        t = np.append(ts["t_s"].to_numpy(float), max(min(last + interval_s, float(end_s)), last))
        for col in cols:
            y = pd.to_numeric(ts[col], errors="coerce").ffill().fillna(0.0).to_numpy(float)
            series[col[: -len(".breaker")]] = (t, np.append(y, y[-1]))
    return series


# ------------------------------------------------------------------------------------- derived columns

#: The derived timeseries column of requests that ended without an answer (every outcome but ``ok``).
NOT_SERVED = "not_served"


def not_served(ts: pd.DataFrame) -> np.ndarray:
    """Requests per interval that ended without an answer: failed, timed out, refused, rate limited, shed,
    killed or too large (every ``completed_*`` column but ``completed_ok``), by the interval they ended in."""
    cols = [c for c in ts.columns if isinstance(c, str) and c.startswith("completed_") and c != "completed_ok"]
    if not cols:
        return np.zeros(len(ts))
    return ts[cols].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy(float).sum(axis=1)


def with_derived_columns(ts: pd.DataFrame) -> pd.DataFrame:
    """``ts`` with :data:`NOT_SERVED` added (a copy; ``ts`` is left as it is)."""
    out = ts.copy()
    out[NOT_SERVED] = not_served(ts)
    return out
