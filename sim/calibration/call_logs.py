"""A log of provider calls, read from a gateway's CSV or the simulator's own ``calls`` frame, and checked.

Every gateway writes one line per provider attempt, but no two agree on the columns: ``latency_ms`` or
``duration``, ``status`` as ``200``/``429``/``500`` or as ``success``/``rate_limited``, timestamps as epoch
seconds or ISO dates. This module maps any of them onto one normalised frame (:data:`LOG_COLUMNS`, one row
per attempt, the simulator's status names, seconds) that :mod:`sim.calibration.provider_fit` fits. A column
that is missing, a value that is not a number, a negative token count or a status nobody knows is a
:class:`~sim.errors.ScenarioError` naming the column, its option and the line, never a traceback.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from sim.errors import ScenarioError
from sim.record import CALL_STATUSES

LOG_COLUMNS = ("provider", "model", "status", "input_tokens", "output_tokens", "latency_s", "ttft_s",
               "start_s", "cost_usd")
"""The normalised log: one row per attempt; ``ttft_s``, ``start_s``, ``cost_usd`` may be all NaN."""

REQUIRED_CALL_COLUMNS = ("provider", "model", "status", "input_tokens", "output_tokens", "duration_s", "start_s")


def read_calls_log(path: str | Path) -> pd.DataFrame:
    """The simulator's ``calls`` frame (``calls.parquet``, or a run's results folder) as a normalised log."""
    path = Path(path)
    if path.is_dir():
        if not (path / "calls.parquet").exists():
            designs = sorted(str(p.parent) for p in path.glob("*/calls.parquet"))
            hint = f"; name one design's folder: {', '.join(designs)}" if designs else ""
            raise ScenarioError(f"{path}: not a run's results folder (no calls.parquet){hint}")
        path = path / "calls.parquet"
    if not path.exists():
        raise ScenarioError(f"{path}: no such file")
    try:
        frame = pd.read_parquet(path)
    except Exception as err:            # pyarrow's errors vary by what is wrong with the file
        raise ScenarioError(f"{path}: not a Parquet file ({type(err).__name__}: {err})") from None
    missing = [c for c in REQUIRED_CALL_COLUMNS if c not in frame.columns]
    if missing:
        raise ScenarioError(f"{path}: not a calls frame: no column {', '.join(map(repr, missing))}")
    unknown = sorted(set(frame["status"].astype(str)) - set(CALL_STATUSES))
    if unknown:
        raise ScenarioError(f"{path}: column 'status' has unknown values {unknown}; known: {list(CALL_STATUSES)}")
    return pd.DataFrame({
        "provider": frame["provider"].astype(str), "model": frame["model"].astype(str),
        "status": frame["status"].astype(str),
        "input_tokens": frame["input_tokens"].astype(float), "output_tokens": frame["output_tokens"].astype(float),
        "latency_s": frame["duration_s"].astype(float), "ttft_s": np.nan,
        "start_s": frame["start_s"].astype(float),
        "cost_usd": frame["cost_usd"].astype(float) if "cost_usd" in frame.columns else np.nan,
    })


@dataclass
class LogColumns:
    """Which CSV column holds what; ``None`` for an optional column means "use it if the default is there"."""

    model: str = "model"
    status: str = "status"
    input_tokens: str = "input_tokens"
    output_tokens: str = "output_tokens"
    latency: str = "latency_s"
    provider: str | None = None
    ttft: str | None = None
    timestamp: str | None = None
    cost: str | None = None
    time_unit: str = "s"                        # of latency and ttft: "s" or "ms"
    provider_name: str = "fitted"              # when the log has no provider column

    OPTIONAL_DEFAULTS: ClassVar[dict[str, str]] = {"provider": "provider", "ttft": "ttft_s",
                                                   "timestamp": "timestamp", "cost": "cost_usd"}


#: Status words and codes a log may hold, and the simulator's status each one means.
STATUS_WORDS = {
    "ok": "ok", "success": "ok", "succeeded": "ok", "completed": "ok",
    "error": "error", "failed": "error", "failure": "error", "server_error": "error", "5xx": "error",
    "timeout": "timeout", "timed_out": "timeout", "408": "timeout", "504": "timeout",
    "rate_limited": "rate_limited", "429": "rate_limited", "throttled": "rate_limited",
    "refused": "refused", "content_filter": "refused", "content_filtered": "refused",
    "too_large": "too_large", "413": "too_large",
}


def _status(values: pd.Series, column: str, where: str) -> pd.Series:
    text = values.astype(str).str.strip().str.lower().str.replace(r"\.0$", "", regex=True)
    mapped = text.map(STATUS_WORDS)
    code = pd.to_numeric(text, errors="coerce")
    mapped = mapped.where(mapped.notna(), np.where((code >= 200) & (code < 300), "ok",
                                                   np.where((code >= 500) & (code < 600), "error", None)))
    unknown = text[mapped.isna()]
    if len(unknown):
        counts = unknown.value_counts().head(5)
        shown = ", ".join(f"{v!r} ({n} rows)" for v, n in counts.items())
        raise ScenarioError(f"{where}: column {column!r} (--status-col) has values that are not a known status: "
                            f"{shown}; known: 2xx, 5xx, {', '.join(sorted(STATUS_WORDS))}")
    return mapped.astype(str)


def _numbers(frame: pd.DataFrame, column: str, option: str, where: str, required_on=None) -> pd.Series:
    """A numeric column; garbled values, negatives, and blanks where ``required_on`` is true are errors."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    garbled = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if garbled.any():
        row = int(np.flatnonzero(garbled.to_numpy())[0])
        raise ScenarioError(f"{where}: column {column!r} ({option}) line {row + 2} holds {raw.iloc[row]!r}, not "
                            f"a number ({int(garbled.sum())} such rows)")
    bad = values < 0
    if not np.isfinite(values.fillna(0)).all() or bad.any():
        row = int(np.flatnonzero((bad | ~np.isfinite(values.fillna(0))).to_numpy())[0])
        raise ScenarioError(f"{where}: column {column!r} ({option}) line {row + 2} holds {raw.iloc[row]!r}; "
                            "expected a finite number >= 0")
    if required_on is not None:
        blank = values.isna() & required_on
        if blank.any():
            row = int(np.flatnonzero(blank.to_numpy())[0])
            raise ScenarioError(f"{where}: column {column!r} ({option}) is empty on line {row + 2} (a successful "
                                f"call); {int(blank.sum())} such rows")
    return values.astype(float)


def _timestamps(raw: pd.Series, column: str, where: str) -> pd.Series:
    numbers = pd.to_numeric(raw, errors="coerce")
    if numbers.notna().all():
        return numbers.astype(float)
    try:
        times = pd.to_datetime(raw, format="mixed", utc=True)
    except (ValueError, TypeError) as err:
        raise ScenarioError(f"{where}: column {column!r} (--timestamp-col) is neither seconds nor dates: "
                            f"{err}") from None
    return (times - times.min()).dt.total_seconds()


REQUIRED_CSV_COLUMNS = ("model", "status", "input_tokens", "output_tokens", "latency")


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ScenarioError(f"{path}: not a readable CSV ({err})") from None


def _columns_found(frame: pd.DataFrame, columns: LogColumns, where: str) -> dict[str, str | None]:
    """Each role's column in ``frame`` (None: an optional one that is absent); a required or explicitly named
    column that is absent is an error listing the columns there are."""
    found = {}
    for role in (*REQUIRED_CSV_COLUMNS, *LogColumns.OPTIONAL_DEFAULTS):
        given = getattr(columns, role)
        column = given or LogColumns.OPTIONAL_DEFAULTS[role]
        if column in frame.columns:
            found[role] = column
        elif given is not None:
            option = f"--{role.replace('_', '-')}-col"
            raise ScenarioError(f"{where}: no column {column!r} ({option}); the columns are: "
                                f"{', '.join(frame.columns)}")
        else:
            found[role] = None
    return found


def read_csv_log(path: str | Path, columns: LogColumns | None = None) -> pd.DataFrame:
    """A CSV of calls as a normalised log, every column checked; ScenarioError naming the column at fault."""
    columns = columns or LogColumns()
    if columns.time_unit not in ("s", "ms"):
        raise ScenarioError(f"--time-unit: must be s or ms, got {columns.time_unit!r}")
    path = Path(path)
    where = str(path)
    frame = _read_csv(path)
    col = _columns_found(frame, columns, where)
    blank_model = frame[col["model"]].isna()
    if blank_model.any():
        raise ScenarioError(f"{where}: column {col['model']!r} (--model-col) is empty on line "
                            f"{int(np.flatnonzero(blank_model.to_numpy())[0]) + 2}")
    status = _status(frame[col["status"]], col["status"], where)
    ok = status == "ok"
    scale = 0.001 if columns.time_unit == "ms" else 1.0

    def numbers(role, required_on=None):
        option = f"--{role.replace('_', '-')}-col"
        return _numbers(frame, col[role], option, where, required_on) if col[role] else np.nan

    return pd.DataFrame({
        "provider": frame[col["provider"]].astype(str) if col["provider"] else columns.provider_name,
        "model": frame[col["model"]].astype(str),
        "status": status,
        "input_tokens": numbers("input_tokens"),
        "output_tokens": numbers("output_tokens", required_on=ok),
        "latency_s": numbers("latency", required_on=ok) * scale,
        "ttft_s": numbers("ttft") * scale,
        "start_s": _timestamps(frame[col["timestamp"]], col["timestamp"], where) if col["timestamp"] else np.nan,
        "cost_usd": numbers("cost"),
    })
