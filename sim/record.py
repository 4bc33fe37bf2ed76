"""The recorder: what happened, kept as columns.

Observability in a real gateway means one log line per request, one span per provider attempt and an event
for every state change. The simulator keeps the same three records, but as preallocated numpy columns
written by index, not a Python object per request: a request is a row number, and recording it is a handful
of array stores. The frames a user reads (``requests``, ``calls``, ``events``) are built from the columns
once, at the end of the run.

Codes, not strings, are stored on the hot path; :data:`OUTCOMES` and :data:`CALL_STATUSES` name them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: Every request ends in exactly one of these.
OUTCOMES = ("ok", "failed", "timeout", "refused", "rate_limited", "shed", "killed", "too_large")
OUTCOME = {name: code for code, name in enumerate(OUTCOMES)}
PENDING = -1

#: What the semantic cache did for a request.
CACHE_STATES = ("bypass", "miss", "hit", "false_hit", "stale")
CACHE_STATE = {name: code for code, name in enumerate(CACHE_STATES)}

#: Every provider attempt ends in exactly one of these.
CALL_STATUSES = ("ok", "error", "timeout", "rate_limited", "refused", "too_large")
CALL_STATUS = {name: code for code, name in enumerate(CALL_STATUSES)}


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
        self.events: list[tuple[float, str, str, str]] = []

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

    def event(self, time_s: float, kind: str, subject: str, detail: str = "") -> None:
        self.events.append((float(time_s), kind, subject, detail))

    def events_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.events, columns=["time_s", "kind", "subject", "detail"])
        return frame.sort_values("time_s", kind="stable").reset_index(drop=True)
