"""Metrics: the frames of a run turned into a timeseries and a summary.

Every number here has a definition in ``docs/metrics.md``; the functions read frames only (never the SimPy
model), so they apply equally to a saved run loaded back from disk.

Time-averaged quantities (requests in flight, queue length) are computed exactly from the intervals each
request spends in a state, not by sampling: the integral over ``[0, T]`` of the number of requests that have
arrived is ``sum(max(0, T - a_i))``, so the mean in any interval follows from two cumulative sums.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.record import OUTCOMES

SECONDS_PER_MONTH = 30 * 86400.0


def _integral_of_count(times: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """For each edge T: integral over [0, T] of #{i: times_i <= t}, i.e. sum(max(0, T - times_i))."""
    t = np.sort(times[np.isfinite(times)])
    k = np.searchsorted(t, edges, side="right")
    csum = np.concatenate([[0.0], np.cumsum(t)])
    return k * edges - csum[k]


def time_average_in_state(enter_s: np.ndarray, leave_s: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean number of items in a state during each [edges[j], edges[j+1]), given enter/leave times."""
    inside = _integral_of_count(enter_s, edges) - _integral_of_count(leave_s, edges)
    return np.diff(inside) / np.diff(edges)


def peak_in_state(enter_s: np.ndarray, leave_s: np.ndarray) -> int:
    """Largest number of items simultaneously in a state (leaving before entering at equal times).

    The count peaks just after an entry: after the k-th entry in time order (0-based) it is k + 1 less the
    items that left at or before that time. Two sorted copies and a search: no merged, ordered and summed
    arrays of twice the length (which took ~80 bytes per item at once).
    """
    if len(enter_s) == 0:
        return 0
    enter = np.sort(enter_s)
    left = np.searchsorted(np.sort(leave_s), enter, side="right")
    left -= np.arange(1, len(enter) + 1)             # minus the count in the state after each entry
    return int(-left.min())


def _percentiles(values: pd.Series, by: pd.Series, qs=(50, 95, 99)) -> pd.DataFrame:
    grouped = values.groupby(by, observed=True)
    return pd.DataFrame({f"latency_p{q}_s": grouped.quantile(q / 100) for q in qs})


def _percentiles_by_bin(values: np.ndarray, bins: np.ndarray, rows_per_piece: int = 2**16) -> pd.DataFrame:
    """:func:`_percentiles` of ``values`` by ``bins``, in pieces of whole bins when ``bins`` is sorted (a run's
    arrivals are): each bin's quantiles are its own, so the numbers are the same, and groupby's temporaries
    (~65 bytes a row) are held for one piece at a time."""
    if len(bins) <= rows_per_piece or (bins[1:] < bins[:-1]).any():
        return _percentiles(pd.Series(values), pd.Series(bins))
    starts = np.unique(np.searchsorted(bins, bins[::rows_per_piece], side="left"))   # each at a bin's first row
    ends = np.append(starts[1:], len(bins))
    return pd.concat([_percentiles(pd.Series(values[a:b]), pd.Series(bins[a:b])) for a, b in zip(starts, ends)])


def production_calls(calls: pd.DataFrame) -> pd.DataFrame:
    """The calls that served users: shadow calls (mirrored to a candidate) left out."""
    if "shadow" not in calls:
        return calls
    shadow = calls["shadow"].to_numpy()
    return calls[~shadow] if shadow.any() else calls       # no copy of the frame when there is none


def after_warmup(requests: pd.DataFrame, warmup_s: float) -> pd.DataFrame:
    """The requests that arrived at or after ``warmup_s``: ``requests[requests.arrival_s >= warmup_s]``, but
    without copying the frame when those rows are all of it or its tail (arrivals are sorted in a run's
    frame; the tail is then a view)."""
    keep = requests["arrival_s"].to_numpy() >= warmup_s
    first = int(np.argmax(keep)) if len(keep) else 0
    if keep[first:].all():                           # keep[:first] is all False (argmax: the first True)
        return requests if first == 0 else requests.iloc[first:]
    return requests[keep]


def _calls_of(calls: pd.DataFrame, measured: pd.DataFrame, requests: pd.DataFrame) -> pd.DataFrame:
    """The calls of the ``measured`` requests (the frame itself when those are all of ``requests``)."""
    if len(measured) == len(requests):
        return calls
    ids = measured["request_id"].to_numpy()
    if len(ids) and ids[-1] - ids[0] + 1 == len(ids) and (np.diff(ids) == 1).all():   # a run of ids: no hash
        return calls[(calls["request_id"] >= ids[0]).to_numpy() & (calls["request_id"] <= ids[-1]).to_numpy()]
    return calls[calls["request_id"].isin(ids)]


BREAKER_STATE_CODE = {"closed": 0, "half_open": 1, "open": 2}


class _Labels:
    """A label column (categorical or plain strings) asked for masks of "one of these labels"; a categorical
    is compared by its integer codes, read once."""

    def __init__(self, column: pd.Series):
        self._column = column
        self._categorical = isinstance(column.dtype, pd.CategoricalDtype)
        if self._categorical:
            self._categories = column.cat.categories
            self._codes = column.cat.codes.to_numpy()

    def any_of(self, *values: str) -> np.ndarray:
        if self._categorical:
            return np.isin(self._codes, [self._categories.get_loc(v) for v in values if v in self._categories])
        return self._column.isin(values).to_numpy()


def timeseries(requests: pd.DataFrame, calls: pd.DataFrame, interval_s: float,
               provider_limits: dict[str, dict[str, float | None]], end_s: float,
               events: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per interval: traffic, outcomes, concurrency, latency, cost, errors, limit utilisation,
    breaker states and spend.

    The columns are computed as numpy arrays (per-interval counts and sums by ``bincount``) and the frame is
    built once at the end: assigning columns to a frame one by one costs about a millisecond each, which was
    most of a short run's fixed cost.
    """
    shadow = calls["shadow"].to_numpy() if "shadow" in calls else np.zeros(len(calls), dtype=bool)
    n_bins = max(1, math.ceil(end_s / interval_s))
    edges = np.arange(n_bins + 1) * interval_s

    def bins(times: np.ndarray) -> np.ndarray:
        return np.minimum((times // interval_s).astype(np.int64), n_bins - 1)

    def per_bin(bin_of: np.ndarray, weights=None) -> np.ndarray:
        return np.bincount(bin_of, weights=weights, minlength=n_bins)

    outcome, status = _Labels(requests["outcome"]), _Labels(calls["status"])
    arrive = requests["arrival_s"].to_numpy()
    arrival_bin, end_bin = bins(arrive), bins(requests["end_s"].to_numpy())
    ts: dict[str, object] = {"t_s": edges[:-1], "arrivals": per_bin(arrival_bin)}
    for name in OUTCOMES:
        ts[f"completed_{name}"] = per_bin(end_bin[outcome.any_of(name)])
    ts["in_flight"] = time_average_in_state(arrive, requests["end_s"].to_numpy(), edges)
    ts["queue_length"] = time_average_in_state(arrive, arrive + requests["queue_wait_s"].to_numpy(), edges)
    ok = outcome.any_of("ok")
    pct = _percentiles_by_bin(requests["latency_s"].to_numpy()[ok], arrival_bin[ok]).reindex(range(n_bins))
    for column in pct.columns:
        ts[column] = pct[column].to_numpy()
    ok_per_bin = per_bin(arrival_bin[ok])
    wrong_per_bin = per_bin(arrival_bin[ok & requests["hallucinated"].to_numpy()])
    with np.errstate(invalid="ignore", divide="ignore"):
        ts["hallucination_rate"] = np.where(ok_per_bin > 0, wrong_per_bin / ok_per_bin, np.nan)
    if "cache" in requests:
        cache = _Labels(requests["cache"])
        looked_up_mask = ~cache.any_of("bypass")
        if looked_up_mask.any():
            looked_up = per_bin(arrival_bin[looked_up_mask])
            with np.errstate(invalid="ignore", divide="ignore"):
                for column, states in CACHE_RATES.items():
                    hits = per_bin(arrival_bin[cache.any_of(*states)])
                    ts[column] = np.where(looked_up > 0, hits / looked_up, np.nan)
    production = ~shadow                    # shadow calls (mirrored to a candidate) served nobody
    call_end = calls["end_s"].to_numpy()
    call_cost = calls["cost_usd"].to_numpy()
    call_bin = bins(call_end[production])
    # the non-LLM costs (retrieval and tool steps, query embedding) count when their request ends
    step_cost = per_bin(end_bin, requests["cost_usd"].to_numpy() - requests["llm_cost_usd"].to_numpy())
    del arrival_bin, end_bin, ok     # a request's bins: ~17 bytes a request not held from here on
    ts["cost_usd"] = cost = per_bin(call_bin, call_cost[production]) + step_cost
    ts["spend_usd"] = np.cumsum(cost)
    if shadow.any():
        ts["shadow_cost_usd"] = per_bin(bins(call_end[shadow]), call_cost[shadow])
    ts["calls"] = n_calls = per_bin(call_bin)
    failed_calls = per_bin(call_bin[~status.any_of("ok")[production]])
    ts["rate_limited_calls"] = per_bin(call_bin[status.any_of("rate_limited")[production]])
    with np.errstate(invalid="ignore", divide="ignore"):
        ts["error_rate"] = np.where(n_calls > 0, failed_calls / n_calls, np.nan)
    admitted = ~status.any_of("rate_limited", "too_large", "context_exceeded")   # shadow calls too
    start_bin = bins(calls["start_s"].to_numpy()[admitted])
    input_tokens = calls["input_tokens"].to_numpy()[admitted]
    output_tokens = calls["output_tokens"].to_numpy()[admitted]
    per_interval = interval_s / 60.0
    provider_of_call = _Labels(calls["provider"])
    for provider, limits in provider_limits.items():
        mine = provider_of_call.any_of(provider)[admitted]
        used = {"rpm": per_bin(start_bin[mine]).astype(float),
                "itpm": per_bin(start_bin[mine], input_tokens[mine]),
                "otpm": per_bin(start_bin[mine], output_tokens[mine])}
        used["tpm"] = used["itpm"] + used["otpm"]
        for kind, per_min in limits.items():
            if per_min:
                ts[f"{provider}.{kind}_util"] = used[kind] / (per_min * per_interval)
    if events is not None:
        for subject, states in breaker_states(events, edges[1:]).items():
            ts[f"{subject}.breaker"] = states
    return pd.DataFrame(ts)


def breaker_states(events: pd.DataFrame, times_s: np.ndarray) -> dict[str, np.ndarray]:
    """Each breaker's state (0 closed, 1 half-open, 2 open) at each of ``times_s``, from its events; the
    breakers in the order of the ``subject`` column's categories (sorted names when it is plain text)."""
    out = {}
    is_breaker = _Labels(events["kind"]).any_of("breaker")
    if not is_breaker.any():
        return out
    time_s = events["time_s"].to_numpy()[is_breaker]
    order = np.argsort(time_s, kind="stable")
    time_s = time_s[order]
    subject = events["subject"].to_numpy(dtype=object)[is_breaker][order]
    to_state = events["to_state"].to_numpy(dtype=object)[is_breaker][order]
    present = set(subject)
    if isinstance(events["subject"].dtype, pd.CategoricalDtype):
        names = [name for name in events["subject"].cat.categories if name in present]
    else:
        names = sorted(present)
    for name in names:
        mine = subject == name
        codes = np.array([BREAKER_STATE_CODE[state] for state in to_state[mine]], dtype=np.int64)
        k = np.searchsorted(time_s[mine], times_s, side="right")
        out[str(name)] = np.where(k > 0, codes[np.maximum(k - 1, 0)], 0)
    return out


#: The cache's rates, each the share of looked-up requests in the given states.
CACHE_RATES = {"cache_hit_rate": ("hit", "false_hit", "stale"), "false_hit_rate": ("false_hit",),
               "stale_rate": ("stale",)}


def quality_failed(requests: pd.DataFrame) -> pd.Series:
    """An answered request whose answer is wrong or unusable: hallucinated, unparseable, or a cache answer
    to a different question (false hit) or an outdated one (stale)."""
    failed = requests["hallucinated"] | requests["parse_failed"]
    if "cache" in requests:
        failed = failed | requests["cache"].isin(("false_hit", "stale")).to_numpy()
    return failed


def cache_summary(measured: pd.DataFrame) -> dict:
    """Hit, false-hit and stale rates over the measured requests that were looked up; precision of hits."""
    if "cache" not in measured:
        return {}
    looked_up = measured[measured["cache"] != "bypass"]
    n = len(looked_up)
    out = {name: (float(looked_up["cache"].isin(states).mean()) if n else math.nan)
           for name, states in CACHE_RATES.items()}
    served = looked_up["cache"].isin(CACHE_RATES["cache_hit_rate"])
    out["cache_lookups"] = n
    out["cache_precision"] = float((looked_up["cache"][served] == "hit").mean()) if served.any() else math.nan
    out["embedding_cost_usd"] = float(measured["embedding_cost_usd"].sum()) if "embedding_cost_usd" in measured else 0.0
    return out


def _strong_call_share(calls: pd.DataFrame) -> float:
    if "tier" not in calls:
        return math.nan
    answered_tier = calls["tier"][(calls["status"] == "ok").to_numpy()]     # one column, not the frame
    if not len(answered_tier):
        return math.nan
    return float((answered_tier == "strong").mean())


def summary(requests: pd.DataFrame, calls: pd.DataFrame, warmup_s: float, duration_s: float,
            patience_s: float = math.inf) -> dict:
    """Headline numbers over the requests that arrived after the warm-up (see docs/metrics.md).

    ``requests_waited_over_patience`` counts requests, whatever their outcome, whose end-to-end time
    (arrival to answer or failure) exceeded ``patience_s``.
    """
    measured = after_warmup(requests, warmup_s)
    calls = production_calls(calls)
    measured_calls = _calls_of(calls, measured, requests) if warmup_s > 0 else calls
    n = len(measured)
    span_s = duration_s - warmup_s
    counts = measured["outcome"].value_counts()
    # the answered requests: only the columns read below (a copy of every column was ~126 bytes a request)
    ok = measured.loc[(measured["outcome"] == "ok").to_numpy(),
                      [c for c in ("latency_s", "ttft_s", "hallucinated", "parse_failed", "cache") if c in measured]]
    lat = ok["latency_s"].to_numpy()
    q = (lambda a, p: float(np.quantile(a, p)) if len(a) else math.nan)
    cost = float(measured["cost_usd"].sum())
    n_calls = len(measured_calls)
    out = {
        "requests_total": n,
        **{f"requests_{name}": int(counts.get(name, 0)) for name in OUTCOMES},
        "availability": float(counts.get("ok", 0) / n) if n else math.nan,
        "calls_total": n_calls,
        "rate_limited_calls": int((measured_calls["status"] == "rate_limited").sum()),
        "error_rate": float((measured_calls["status"] != "ok").mean()) if n_calls else math.nan,
        "latency_mean_s": float(lat.mean()) if len(lat) else math.nan,
        "latency_p50_s": q(lat, 0.50), "latency_p95_s": q(lat, 0.95), "latency_p99_s": q(lat, 0.99),
        "ttft_p50_s": q(ok["ttft_s"].to_numpy(), 0.50), "ttft_p95_s": q(ok["ttft_s"].to_numpy(), 0.95),
        "queue_wait_mean_s": float(measured["queue_wait_s"].mean()) if n else math.nan,
        "queue_wait_p95_s": q(measured["queue_wait_s"].to_numpy(), 0.95),
        "cost_usd": cost,
        "llm_cost_usd": float(measured["llm_cost_usd"].sum()),
        "cost_per_request_usd": cost / n if n else math.nan,
        "projected_cost_per_month_usd": cost / span_s * SECONDS_PER_MONTH,
        "mean_concurrency": float(measured["latency_s"].sum() / span_s),
        "peak_concurrency": peak_in_state(measured["arrival_s"].to_numpy(), measured["end_s"].to_numpy()),
        "mean_calls_in_flight": float((measured_calls["end_s"] - measured_calls["start_s"]).sum() / span_s),
        "attempts_per_request": float(measured["attempts"].mean()) if n else math.nan,
        "hallucination_rate": float(ok["hallucinated"].mean()) if len(ok) else math.nan,
        "parse_failure_rate": float(ok["parse_failed"].mean()) if len(ok) else math.nan,
        "quality_failure_rate": float(quality_failed(ok).mean()) if len(ok) else math.nan,
        "strong_call_share": _strong_call_share(measured_calls),
        "input_tokens_total": int(measured["input_tokens"].sum()),
        "output_tokens_total": int(measured["output_tokens"].sum()),
    }
    out["user_patience_s"] = patience_s
    out["requests_waited_over_patience"] = int((measured["latency_s"] > patience_s).sum())
    out.update(cache_summary(measured))
    return out


SERVICE_FAULTS = ("outage", "error_rate", "latency", "rate_limit")


def _matches(subject: str, targets) -> bool:
    """A fault's targets match a breaker's provider/model label: no targets, the label, or its provider."""
    return not targets or any(subject == t or subject.startswith(t + "/") for t in targets)


def _first_after(rows: pd.DataFrame, t: float, targets=(), *, to_states=(), reasons=None) -> float:
    """Seconds from ``t`` to the first event at or after it into one of ``to_states`` (with one of
    ``reasons``, if given) whose subject one of ``targets`` matches; NaN if there is none."""
    mask = (rows["time_s"] >= t).to_numpy() & rows["to_state"].isin(to_states).to_numpy()
    if reasons is not None:
        mask &= rows["reason"].isin(reasons).to_numpy()
    mask &= np.array([_matches(str(s), targets) for s in rows["subject"]], dtype=bool)
    hits = rows[mask]
    return float(hits["time_s"].iloc[0] - t) if len(hits) else math.nan


def _false_trips(breaker: pd.DataFrame, windows) -> int:
    """closed->open transitions at times when no fault targeting that breaker's model was active."""
    trips = breaker[(breaker["from_state"] == "closed") & (breaker["to_state"] == "open")]
    return int(sum(not any(w.start_s <= t < w.end_s and _matches(str(subject), w.targets) for w in windows)
                   for t, subject in zip(trips["time_s"], trips["subject"])))


def calls_into_faults(calls: pd.DataFrame, windows) -> int:
    """Production attempts started on a target inside one of its outage, error-rate, latency or rate-limit
    fault windows: the calls a router sent into a fault it could have routed around."""
    service = [w for w in windows if w.kind in SERVICE_FAULTS]
    if not service or not len(calls):
        return 0
    production = production_calls(calls)
    start = production["start_s"].to_numpy()
    provider = production["provider"].astype(str).to_numpy()
    label = provider + "/" + production["model"].astype(str).to_numpy()
    hit = np.zeros(len(production), dtype=bool)
    for w in service:
        inside = (start >= w.start_s) & (start < w.end_s)
        if w.targets:
            inside &= np.isin(provider, w.targets) | np.isin(label, w.targets)
        hit |= inside
    return int(hit.sum())


#: Breaker causes that are quality signals: a trip for one of them detected a silent degradation.
QUALITY_CAUSES = ("hallucination_rate", "parse_failure_rate")


def resilience_summary(requests: pd.DataFrame, calls: pd.DataFrame, events: pd.DataFrame, warmup_s: float,
                       windows, spend_overshoot_usd: float | None = None) -> dict:
    """What the faults did and how fast the resilience layer reacted (see docs/metrics.md)."""
    measured = after_warmup(requests, warmup_s)
    arrival = measured["arrival_s"].to_numpy()
    in_fault = np.zeros(len(measured), dtype=bool)
    for w in windows:
        in_fault |= (arrival >= w.start_s) & (arrival < w.end_s)
    breaker = events[events["kind"] == "breaker"].sort_values("time_s", kind="stable")
    out = {
        "requests_during_faults": int(in_fault.sum()),
        "failed_during_faults": int((in_fault & (measured["outcome"] != "ok").to_numpy()).sum()),
        "breaker_transitions": int(len(breaker)),
        "cooldowns": int(((events["kind"] == "cooldown") & (events["to_state"] == "cooling_down")).sum()),
        "calls_into_faults": calls_into_faults(calls, windows),
        "false_trips": _false_trips(breaker, windows),
        "time_to_open_s": math.nan, "time_to_recover_s": math.nan, "degradation_detected_after_s": math.nan,
        "spend_overshoot_usd": spend_overshoot_usd if spend_overshoot_usd is not None else math.nan,
        "spend_overshoot_bound_usd": math.nan,
        "kill_switch_soft_after_s": math.nan, "kill_switch_hard_after_s": math.nan,
    }
    if spend_overshoot_usd is not None and len(calls):
        # calls already in flight when a hard limit trips still finish and are billed (sim.policies.kill_switch)
        production = production_calls(calls)
        out["spend_overshoot_bound_usd"] = float(
            peak_in_state(production["start_s"].to_numpy(), production["end_s"].to_numpy())
            * production["cost_usd"].max())
    service = sorted((w for w in windows if w.kind in SERVICE_FAULTS), key=lambda w: w.start_s)
    if service:
        first = service[0]
        out["time_to_open_s"] = _first_after(breaker, first.start_s, first.targets, to_states=("open",))
        out["time_to_recover_s"] = _first_after(breaker, first.end_s, first.targets, to_states=("closed",))
    spikes = sorted((w for w in windows if w.kind == "cost_spike"), key=lambda w: w.start_s)
    if spikes:
        trips = events[events["kind"] == "kill_switch"].sort_values("time_s", kind="stable")
        out["kill_switch_soft_after_s"] = _first_after(trips, spikes[0].start_s, to_states=("soft",))
        out["kill_switch_hard_after_s"] = _first_after(trips, spikes[0].start_s, to_states=("hard",))
    degradations = sorted((w for w in windows if w.kind == "degradation"), key=lambda w: w.start_s)
    if degradations:
        first = degradations[0]
        out["degradation_detected_after_s"] = _first_after(breaker, first.start_s, first.targets,
                                                           to_states=("open",), reasons=QUALITY_CAUSES)
    return out
