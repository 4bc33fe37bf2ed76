"""The recorder: what happened, kept as columns.

Observability in a real gateway means one log line per request, one span per provider attempt and an event
for every state change. The simulator keeps the same three records, but as preallocated numpy columns
written by index, not a Python object per request: a request is a row number, and recording it is a handful
of array stores. The frames a user reads (``requests``, ``calls``, ``events``) are built from the columns
once, at the end of the run.

Codes, not strings, are stored on the hot path; :data:`OUTCOMES` and :data:`CALL_STATUSES` name them.

An event is data, not a sentence: each :class:`Event` keeps the fields of the typed object that made it (a
breaker's ``Transition``, a kill switch's ``BudgetTrip``, a fault's window) as columns, so metrics and
charts select rows by ``kind``, ``to_state`` or ``reason`` and never parse ``detail``, which is written for
people only.
"""
from __future__ import annotations

import math
from typing import Mapping, NamedTuple, Optional, Sequence

import numpy as np
import pandas as pd

#: Every request ends in exactly one of these.
OUTCOMES = ("ok", "failed", "timeout", "refused", "rate_limited", "shed", "killed", "too_large", "context_exceeded")
OUTCOME = {name: code for code, name in enumerate(OUTCOMES)}
PENDING = -1

#: What the semantic cache did for a request.
CACHE_STATES = ("bypass", "miss", "hit", "false_hit", "stale")
CACHE_STATE = {name: code for code, name in enumerate(CACHE_STATES)}

#: Every provider attempt ends in exactly one of these.
CALL_STATUSES = ("ok", "error", "timeout", "rate_limited", "refused", "too_large", "context_exceeded")
CALL_STATUS = {name: code for code, name in enumerate(CALL_STATUSES)}


#: Every row of ``events`` is one of these kinds (see docs/metrics.md for the columns each one fills).
EVENT_KINDS = ("run_start", "run_end", "fault_start", "fault_end", "breaker", "kill_switch", "cooldown")


class Event(NamedTuple):
    """One row of ``events``: a state change, its fields as columns (``None`` / NaN where they do not apply).

    * ``subject``: what changed -- a provider/model (breaker), a spend window (kill switch), a fault's target
      (``all`` when it has none), or ``scenario``;
    * ``from_state``, ``to_state``: breaker states (``closed``, ``half_open``, ``open``) or kill-switch
      levels (``normal``, ``soft``, ``hard``);
    * ``reason``: why a breaker changed state (``sim.policies.breaker.CAUSES``: the threshold met, or
      ``wait_in_open_elapsed``, ``trial_passed``, ``cooldown_elapsed``);
    * ``value``, ``limit``: the measured number and the setting it was compared with (a breaker's rate and
      threshold; a kill-switch window's spend and hard limit, in USD);
    * ``fault_kind``, ``fault_name``: the fault of a ``fault_start`` / ``fault_end``;
    * ``detail``: the same as one human-readable sentence. Never parse it.
    """

    time_s: float
    kind: str
    subject: str
    from_state: Optional[str] = None
    to_state: Optional[str] = None
    reason: Optional[str] = None
    value: float = math.nan
    limit: float = math.nan
    fault_kind: Optional[str] = None
    fault_name: Optional[str] = None
    detail: str = ""


#: Columns of ``events`` held as categoricals (few distinct values, repeated).
EVENT_CATEGORIES = ("subject", "from_state", "to_state", "reason", "fault_kind")


def events_frame(events: list[Event], vocabularies: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """The ``events`` frame: one row per event, by time (stable, so same-time events keep their order).

    ``vocabularies`` gives a categorical column its categories up front (the breaker's states, the faults'
    kinds...), so that every run's frame has the same categories whatever happened in it, and a column with
    no value at all stays categorical through a Parquet round trip. Values outside it are added, never lost.
    """
    vocabularies = {"kind": EVENT_KINDS, **(vocabularies or {})}
    fields = dict(zip(Event._fields, zip(*events))) if events else {name: () for name in Event._fields}
    time_s = np.array(fields["time_s"], dtype="float64")
    order = np.argsort(time_s, kind="stable")           # by time; same-time events keep their order
    data: dict[str, object] = {"time_s": time_s[order]}
    for name in Event._fields[1:]:
        values = list(fields[name])
        if name == "kind" or name in EVENT_CATEGORIES:
            data[name] = _categorical(values, vocabularies.get(name, ()))[order]
        elif name in ("value", "limit"):
            data[name] = pd.Series(values, dtype=object).astype("float64").to_numpy()[order]
        else:                                           # free text: the string dtype a Parquet round trip gives
            data[name] = pd.Series(values, dtype=object).astype("str").array[order]
    # one constructor call: building it column by column costs ~1 ms a column, a fixed cost of every run
    return pd.DataFrame(data)


def _categorical(values: list, known: Sequence[str]) -> pd.Categorical:
    """``values`` coded against ``known`` plus the unknown strings (sorted) after them; ``None`` -> missing."""
    categories = list(known) + sorted({v for v in values if isinstance(v, str)} - set(known))
    code_of = {name: code for code, name in enumerate(categories)}
    codes = np.array([code_of[v] if isinstance(v, str) else -1 for v in values], dtype=np.int64)
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype="str"))


class GrowableColumns:
    """Named numpy columns that grow by doubling; ``append`` writes one row by index."""

    def __init__(self, dtypes: dict[str, str], capacity: int = 1024):
        self._dtypes = dtypes
        self.columns = {name: np.zeros(max(capacity, 16), dtype=dt) for name, dt in dtypes.items()}
        self.size = 0

    def next_row(self) -> int:
        i = self.size
        if i == len(next(iter(self.columns.values()))):
            for name, col in self.columns.items():
                grown = np.zeros(2 * len(col), dtype=col.dtype)
                grown[:i] = col
                self.columns[name] = grown
        self.size = i + 1
        return i

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({name: col[:self.size] for name, col in self.columns.items()})

    def take(self) -> dict[str, np.ndarray]:
        """The columns cut to the rows written, handed over: the spare capacity is freed column by column
        (each is copied to its size, then its buffer dropped), so two of everything are never held at once.
        The columns are empty afterwards."""
        taken = {}
        for name in list(self.columns):
            column = self.columns.pop(name)
            taken[name] = column if len(column) == self.size else column[:self.size].copy()
            del column
        self.columns = {name: np.zeros(16, dtype=dt) for name, dt in self._dtypes.items()}
        self.size = 0
        return taken


CALL_COLUMNS = {
    "request_id": "int64", "call_index": "int32", "attempt": "int32", "target": "int16",
    "start_s": "float64", "end_s": "float64", "status": "int8", "input_tokens": "int64",
    "output_tokens": "int64", "cost_usd": "float64", "hallucinated": "bool", "parse_failed": "bool",
    "shadow": "bool",
}


class Recorder:
    """Columns for the requests of one run (size known up front), its calls and its events."""

    def __init__(self, n_requests: int):
        n = n_requests
        self.outcome = np.full(n, PENDING, dtype=np.int8)
        self.end_s = np.full(n, np.nan)
        self.first_token_s = np.full(n, np.nan)
        self.queue_wait_s = np.zeros(n)
        self.input_tokens = np.zeros(n, dtype=np.int64)
        self.output_tokens = np.zeros(n, dtype=np.int64)
        self.llm_cost_usd = np.zeros(n)
        self.step_cost_usd = np.zeros(n)
        self.embedding_cost_usd = np.zeros(n)
        self.cache = np.zeros(n, dtype=np.int8)            # CACHE_STATES code; 0 = bypass
        self.target = np.full(n, -1, dtype=np.int16)
        self.attempts = np.zeros(n, dtype=np.int32)
        self.hallucinated = np.zeros(n, dtype=bool)
        self.parse_failed = np.zeros(n, dtype=bool)
        # the call columns are bound as attributes too, so the hot path indexes them directly
        self.calls = GrowableColumns(CALL_COLUMNS, capacity=int(n * 1.25) + 16)
        self.events: list[Event] = []

    def call(self, *, request_id: int, call_index: int, attempt: int, target: int, start_s: float,
             end_s: float, status: int, input_tokens: int, output_tokens: int, cost_usd: float = 0.0,
             hallucinated: bool = False, parse_failed: bool = False, shadow: bool = False) -> None:
        """One provider attempt as a row of ``calls``; ``call_index`` is -1 for a shadow call."""
        calls = self.calls
        j = calls.next_row()
        c = calls.columns
        c["request_id"][j] = request_id
        c["call_index"][j] = call_index
        c["attempt"][j] = attempt
        c["target"][j] = target
        c["start_s"][j] = start_s
        c["end_s"][j] = end_s
        c["status"][j] = status
        c["input_tokens"][j] = input_tokens
        c["output_tokens"][j] = output_tokens
        c["cost_usd"][j] = cost_usd
        c["hallucinated"][j] = hallucinated
        c["parse_failed"][j] = parse_failed
        c["shadow"][j] = shadow

    def event(self, event: Event) -> None:
        self.events.append(event)

    def events_frame(self, vocabularies: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
        return events_frame(self.events, vocabularies)
