"""Fitting a provider from its call logs: the numbers a scenario's ``providers:`` section needs.

A gateway logs one line per provider attempt: when it started, which model, how many tokens went in and came
out, how long it took (and, when the client streams, when the first token arrived), and how it ended. From
such a log this module estimates, per model, what the simulator draws (see :mod:`sim.model.providers`):

* **latency**: one call takes ``(ttft_s + output_tokens / tokens_per_s) x F`` with ``F`` lognormal of mean 1
  and log-standard deviation ``sigma``. With a time-to-first-token column, ``ttft_s`` is the mean of the
  TTFTs and ``1 / tokens_per_s`` the mean seconds per streamed token (each a lognormal mean, with Cox's
  interval), and ``sigma`` the spread of the total. With the total latency only (the simulator's own
  ``calls`` frame, most gateway logs), the three are fitted together by maximum likelihood: ``log latency``
  is normal around ``log(ttft_s + output_tokens / tokens_per_s) - sigma^2 / 2``, which separates the
  intercept (time to first token) from the slope (time per token) only if output lengths vary. Timed-out
  calls are *censored*, not dropped: a call cut at 8 s says its latency was over 8 s, and ignoring it would
  bias the fit fast. Intervals come from the observed information (the inverse Hessian).
* **errors**: the share of attempts that reached the model and failed (5xx: ``error_rate``), were refused
  by the content filter (``refusal_rate``) or timed out, each with its Wilson 95% interval. A timeout rate is
  not a setting: the simulator produces it from the latency and ``timeout_s``, which is estimated from where
  the timed-out calls were cut.
* **429s**: a 429 in a log is an answer to *load*, not a property of the model: the client outran the key's
  limits (or the provider sent spurious 429s, which a log cannot tell apart). So the 429 share is reported
  (of all attempts, Wilson interval) but not written as a setting; what *is* estimated is the limit: in the
  minutes that saw 429s, how many calls and tokens the provider admitted (a binding token bucket admits its
  rate, so the median admitted rate is an estimate of the limit that bound; under per-second enforcement
  bursts are refused while the minute's volume stays below the limit, so it is then a lower bound). Attempts refused with a 429 or
  as too large never reached the model and are left out of the error, refusal and timeout rates.

Everything in the log is fitted as the model's normal behaviour: cut incident windows out first, or a latency
fault comes back as a slow model and an outage as a high error rate.

Nothing here runs a simulation; :func:`fit_log` turns a call log (read and checked by
:mod:`sim.calibration.call_logs`) into :class:`ModelFit` s and
:func:`provider_sections` into the scenario schema's ``providers`` entries, validated by
:class:`sim.config.ProviderConfig`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from sim.config import ProviderConfig
from sim.errors import ScenarioError

Z95 = 1.959963984540054
MIN_OK_CALLS = 10
"""Fewest successful calls with latency and output tokens a latency fit is attempted on."""



# ------------------------------------------------------------------------------------------ intervals

class Rate(NamedTuple):
    """``count`` of ``total`` with the Wilson 95% interval of the share."""

    count: int
    total: int
    share: float
    low: float
    high: float


def wilson_rate(count: int, total: int, z: float = Z95) -> Rate:
    """The Wilson score interval: unlike the normal one it stays inside [0, 1] and is sound at 0 events."""
    if total == 0:
        return Rate(0, 0, math.nan, math.nan, math.nan)
    p = count / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return Rate(int(count), int(total), p, max(0.0, centre - half), min(1.0, centre + half))


class Estimate(NamedTuple):
    value: float
    low: float
    high: float


def lognormal_mean(values: np.ndarray) -> tuple[Estimate, float]:
    """The mean of lognormal ``values`` (``exp(m + s^2/2)``) with Cox's 95% interval, and ``s``."""
    logs = np.log(values)
    n = len(logs)
    m, s2 = float(logs.mean()), float(logs.var(ddof=1))
    centre = m + s2 / 2
    half = Z95 * math.sqrt(s2 / n + s2 * s2 / (2 * (n - 1)))
    return Estimate(math.exp(centre), math.exp(centre - half), math.exp(centre + half)), math.sqrt(s2)


# ------------------------------------------------------------------------------------------ latency

@dataclass
class LatencyFit:
    """The latency model's three numbers with their 95% intervals, and how they were found."""

    ttft_s: Estimate
    tokens_per_s: Estimate
    sigma: Estimate
    method: str                 # "ttft_and_latency" or "regression"
    ok_calls: int
    censored_calls: int
    ttft_sigma: float = math.nan         # with a TTFT column: the spread of TTFT and of time per token alone
    per_token_sigma: float = math.nan
    converged: bool = True


def _neg_log_likelihood(theta: np.ndarray, tokens: np.ndarray, log_y: np.ndarray, c_tokens: np.ndarray,
                        log_c: np.ndarray) -> float:
    """Minus the log-likelihood (up to a constant) of ``theta = (log ttft, log s_per_token, log sigma)``."""
    from scipy.special import log_ndtr
    ttft, per_token, sigma = np.exp(theta)
    z = (log_y - np.log(ttft + per_token * tokens) + sigma * sigma / 2) / sigma
    nll = len(log_y) * math.log(sigma) + 0.5 * float(z @ z)
    if len(log_c):
        zc = (log_c - np.log(ttft + per_token * c_tokens) + sigma * sigma / 2) / sigma
        nll -= float(log_ndtr(-zc).sum())          # P(latency > the cut) for each censored call
    return nll


def _hessian(f, x: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian of ``f`` at ``x``."""
    k = len(x)
    h = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            def at(di, dj):
                y = x.copy()
                y[i] += di
                y[j] += dj
                return f(y)
            h[i, j] = h[j, i] = (at(step, step) - at(step, -step) - at(-step, step) + at(-step, -step)) / (
                4 * step * step)
    return h


def _start(tokens: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """A starting point: least squares of latency on output tokens, kept positive."""
    slope, intercept = np.polyfit(tokens, latency, 1)
    median = float(np.median(latency))
    ttft = intercept if intercept > 0 else 0.1 * median
    per_token = slope if slope > 0 else 0.5 * median / max(float(np.median(tokens)), 1.0)
    resid = np.log(latency) - np.log(ttft + per_token * tokens)
    sigma = float(np.std(resid)) or 0.1
    return np.log([ttft, per_token, sigma])


def fit_latency_regression(tokens: np.ndarray, latency_s: np.ndarray, censored_tokens: np.ndarray,
                           censored_at_s: np.ndarray, what: str) -> LatencyFit:
    """Maximum likelihood of ``(ttft_s, tokens_per_s, sigma)`` from total latencies alone.

    ``tokens``/``latency_s`` are the successful calls; ``censored_*`` the timed-out ones, cut at
    ``censored_at_s``. ``what`` names the model in errors.
    """
    from scipy.optimize import minimize
    if len(np.unique(tokens)) < 2:
        raise ScenarioError(f"{what}: every successful call has {int(tokens[0])} output tokens, so the time to "
                            "first token and the tokens per second cannot be told apart from total latency; "
                            "give a log with a TTFT column (--ttft-col) or with varied output lengths")
    args = (tokens, np.log(latency_s), censored_tokens, np.log(censored_at_s))
    x0 = _start(tokens, latency_s)
    bounds = [(math.log(1e-6), math.log(1e5)), (math.log(1e-7), math.log(1e3)), (math.log(1e-4), math.log(5.0))]
    best = minimize(_neg_log_likelihood, x0, args=args, method="L-BFGS-B", bounds=bounds)
    theta = best.x
    try:
        cov = np.linalg.inv(_hessian(lambda t: _neg_log_likelihood(t, *args), theta))
        se = np.sqrt(np.diag(cov)) if np.all(np.diag(cov) > 0) else np.full(3, np.nan)
    except np.linalg.LinAlgError:
        se = np.full(3, np.nan)
    low, high = theta - Z95 * se, theta + Z95 * se
    ttft = Estimate(*np.exp([theta[0], low[0], high[0]]))
    tokens_per_s = Estimate(*np.exp([-theta[1], -high[1], -low[1]]))
    sigma = Estimate(*np.exp([theta[2], low[2], high[2]]))
    return LatencyFit(ttft, tokens_per_s, sigma, "regression", len(tokens), len(censored_tokens),
                      converged=bool(best.success) and bool(np.all(np.isfinite(se))))


def fit_latency_with_ttft(tokens: np.ndarray, latency_s: np.ndarray, ttft_s: np.ndarray,
                          censored_tokens: np.ndarray, censored_at_s: np.ndarray, what: str) -> LatencyFit:
    """TTFT and time per token measured call by call; ``sigma`` is then the spread of the total latency.

    Only calls with a positive TTFT below their latency and at least one output token are used.
    """
    from scipy.optimize import minimize_scalar
    usable = (ttft_s > 0) & (latency_s > ttft_s) & (tokens > 0)
    if usable.sum() < MIN_OK_CALLS:
        raise ScenarioError(f"{what}: only {int(usable.sum())} successful calls have a TTFT below their latency "
                            f"and output tokens; at least {MIN_OK_CALLS} are needed")
    ttft, ttft_sigma = lognormal_mean(ttft_s[usable])
    per_token, per_token_sigma = lognormal_mean((latency_s[usable] - ttft_s[usable]) / tokens[usable])
    theta = (math.log(ttft.value), math.log(per_token.value))
    args = (tokens, np.log(latency_s), censored_tokens, np.log(censored_at_s))
    best = minimize_scalar(lambda s: _neg_log_likelihood(np.array([*theta, s]), *args),
                           bounds=(math.log(1e-4), math.log(5.0)), method="bounded")
    curvature = _hessian(lambda t: _neg_log_likelihood(np.array([*theta, t[0]]), *args), np.array([best.x]))
    se = 1 / math.sqrt(curvature[0, 0]) if curvature[0, 0] > 0 else math.nan
    sigma = Estimate(*np.exp([best.x, best.x - Z95 * se, best.x + Z95 * se]))
    tokens_per_s = Estimate(1 / per_token.value, 1 / per_token.high, 1 / per_token.low)
    return LatencyFit(ttft, tokens_per_s, sigma, "ttft_and_latency", int(usable.sum()), len(censored_tokens),
                      ttft_sigma, per_token_sigma)


# ------------------------------------------------------------------------------------------ one model

@dataclass
class ModelFit:
    """What the log says about one provider's model."""

    provider: str
    model: str
    attempts: int
    latency: LatencyFit
    error: Rate                  # 5xx, of attempts that reached the model
    refused: Rate                # content filter, of attempts that reached the model
    timeout: Rate                # of attempts that reached the model
    rate_limited: Rate           # 429s, of all attempts
    too_large: int
    timeout_s: float | None      # the client timeout the timed-out calls show; None when none timed out
    longest_ok_s: float
    input_usd_per_mtok: float | None = None
    output_usd_per_mtok: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


def _client_timeout_s(cut_at_s: np.ndarray) -> float | None:
    """The client timeout: the median of the cuts within 10% of the longest (shorter cuts were a request's
    deadline running out, not the call's timeout)."""
    if not len(cut_at_s):
        return None
    top = cut_at_s.max()
    return float(np.median(cut_at_s[cut_at_s >= 0.9 * top]))


def _prices(rows: pd.DataFrame) -> tuple[float, float] | None:
    """USD per million input and output tokens from billed calls (non-negative least squares)."""
    from scipy.optimize import nnls
    billed = rows[np.isfinite(rows["cost_usd"]) & (rows["cost_usd"] > 0)]
    if len(billed) < 2:
        return None
    design = billed[["input_tokens", "output_tokens"]].to_numpy(float) / 1e6
    (per_in, per_out), _ = nnls(design, billed["cost_usd"].to_numpy(float))
    return float(np.format_float_positional(per_in, 6, fractional=False)), \
        float(np.format_float_positional(per_out, 6, fractional=False))


def fit_model(rows: pd.DataFrame, provider: str, model: str) -> ModelFit:
    """One model's :class:`ModelFit` from its rows of the normalised log."""
    what = f"{provider}/{model}"
    status = rows["status"].to_numpy()
    n = len(rows)
    n_429, n_large = int((status == "rate_limited").sum()), int((status == "too_large").sum())
    reached = n - n_429 - n_large
    ok = rows[status == "ok"]
    ok = ok[(ok["latency_s"] > 0) & (ok["output_tokens"] >= 0)]
    if len(ok) < MIN_OK_CALLS:
        raise ScenarioError(f"{what}: {len(ok)} successful calls with a latency; at least {MIN_OK_CALLS} are "
                            "needed to fit its latency")
    cut = rows[(status == "timeout") & (rows["latency_s"] > 0)]
    unknown_length = int(cut["output_tokens"].isna().sum())
    cut = cut[cut["output_tokens"].notna()]
    tokens, latency = ok["output_tokens"].to_numpy(float), ok["latency_s"].to_numpy(float)
    c_tokens, c_at = cut["output_tokens"].to_numpy(float), cut["latency_s"].to_numpy(float)
    if ok["ttft_s"].notna().all():
        latency_fit = fit_latency_with_ttft(tokens, latency, ok["ttft_s"].to_numpy(float), c_tokens, c_at, what)
    else:
        latency_fit = fit_latency_regression(tokens, latency, c_tokens, c_at, what)
    fit = ModelFit(provider, model, n, latency_fit,
                   error=wilson_rate(int((status == "error").sum()), reached),
                   refused=wilson_rate(int((status == "refused").sum()), reached),
                   timeout=wilson_rate(int((status == "timeout").sum()), reached),
                   rate_limited=wilson_rate(n_429, n), too_large=n_large,
                   timeout_s=_client_timeout_s(c_at), longest_ok_s=float(latency.max()))
    if not latency_fit.converged:
        fit.notes.append(f"{what}: the latency fit did not converge cleanly (its intervals may be missing or "
                         "wrong); check that output lengths vary and the log holds one model")
    if unknown_length:
        fit.notes.append(f"{what}: {unknown_length} timed-out calls have no output tokens and do not inform the "
                         "latency fit (its ttft_s and tokens_per_s may be optimistic)")
    if latency_fit.method == "ttft_and_latency" and fit.timeout.share > 0.05:
        fit.notes.append(f"{what}: ttft_s and tokens_per_s come from the answered calls only; with "
                         f"{fit.timeout.share:.1%} timed out they are optimistic (sigma accounts for the cut)")
    if latency_fit.method == "regression":
        fit.notes.append(f"{what}: no TTFT in the log, so ttft_s and tokens_per_s come from a regression of "
                         "latency on output tokens (intercept and slope)")
    prices = _prices(rows[status == "ok"])
    if prices:
        fit.input_usd_per_mtok, fit.output_usd_per_mtok = prices
    else:
        fit.notes.append(f"{what}: no billed cost in the log; its prices are written as 0: set "
                         "input_usd_per_mtok and output_usd_per_mtok")
    return fit


# ------------------------------------------------------------------------------------------ 429s and limits

class LimitEvidence(NamedTuple):
    """What a provider admitted per minute in the minutes in which it also answered 429."""

    provider: str
    minutes_with_429: int
    admitted_calls_per_min: float
    admitted_input_tokens_per_min: float
    admitted_output_tokens_per_min: float


def limit_evidence(log: pd.DataFrame) -> list[LimitEvidence]:
    """Per provider whose attempts met 429s (and whose log has start times), the median admitted rates over
    the whole minutes that saw a 429: an estimate of the binding limit (all keys pooled)."""
    found = []
    timed = log[np.isfinite(log["start_s"])]
    for provider, rows in timed.groupby("provider", observed=True, sort=True):
        minute = np.floor((rows["start_s"].to_numpy() - rows["start_s"].min()) / 60.0).astype(np.int64)
        limited = rows["status"].to_numpy() == "rate_limited"
        admitted = ~limited & (rows["status"].to_numpy() != "too_large")
        last = minute.max()
        hit = np.unique(minute[limited & (minute < last)])      # the last minute is usually partial
        if not len(hit):
            continue
        per_min = lambda w: np.bincount(minute, weights=w, minlength=last + 1)[hit]   # noqa: E731
        found.append(LimitEvidence(
            str(provider), len(hit), float(np.median(per_min(admitted.astype(float)))),
            float(np.median(per_min(np.where(admitted, rows["input_tokens"].fillna(0), 0.0)))),
            float(np.median(per_min(np.where(admitted, rows["output_tokens"].fillna(0), 0.0))))))
    return found


# ------------------------------------------------------------------------------------------ the whole log

@dataclass
class ProviderFit:
    source: str
    calls: int
    models: list[ModelFit]
    limits: list[LimitEvidence]
    skipped: list[str] = field(default_factory=list)      # why a model was not fitted (too few calls...)

    @property
    def notes(self) -> list[str]:
        return [note for m in self.models for note in m.notes] + [f"not fitted: {s}" for s in self.skipped]


def fit_log(log: pd.DataFrame, source: str = "") -> ProviderFit:
    """Every (provider, model) of a normalised log (:data:`sim.calibration.call_logs.LOG_COLUMNS`) fitted."""
    if not len(log):
        raise ScenarioError(f"{source or 'log'}: no calls in the log")
    models, skipped = [], []
    for (provider, model), rows in log.groupby(["provider", "model"], observed=True, sort=True):
        try:
            models.append(fit_model(rows, str(provider), str(model)))
        except ScenarioError as err:        # one sparse model does not stop the others being fitted
            skipped.append(str(err))
    if not models:
        raise ScenarioError("; ".join(skipped))
    fit = ProviderFit(source, len(log), models, limit_evidence(log), skipped)
    return fit


def model_section(fit: ModelFit) -> dict:
    """A ``providers[].models[]`` entry of the scenario schema."""
    lat = fit.latency
    section = {
        "name": fit.model,
        "input_usd_per_mtok": fit.input_usd_per_mtok or 0.0,
        "output_usd_per_mtok": fit.output_usd_per_mtok or 0.0,
        "latency": {"type": "ttft_throughput", "ttft_s": _round(lat.ttft_s.value),
                    "tokens_per_s": _round(lat.tokens_per_s.value), "sigma": _round(lat.sigma.value)},
        "error_rate": _round(fit.error.share),
        "refusal_rate": _round(fit.refused.share),
    }
    timeout_s = fit.timeout_s
    if timeout_s is None and fit.longest_ok_s > _default_timeout_s():
        timeout_s = math.ceil(fit.longest_ok_s)     # no call timed out: at least the longest answered call
    if timeout_s is not None:
        section["timeout_s"] = _round(timeout_s)
    return section


def _default_timeout_s() -> float:
    from sim.config import ModelConfig
    return ModelConfig.model_fields["timeout_s"].default


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def provider_sections(fit: ProviderFit) -> list[dict]:
    """The ``providers`` list of the scenario schema, each entry validated by :class:`ProviderConfig`."""
    by_provider: dict[str, list[dict]] = {}
    for m in fit.models:
        by_provider.setdefault(m.provider, []).append(model_section(m))
    sections = [{"name": name, "models": models} for name, models in by_provider.items()]
    for section in sections:
        try:
            ProviderConfig.model_validate(section)
        except Exception as err:         # a fitted value the schema refuses is a bug here, said plainly
            raise ScenarioError(f"fitted provider {section['name']!r} does not validate: {err}") from None
    return sections


# ------------------------------------------------------------------------------------------ writing

FITTED_MARKER = "# Provider section fitted from call logs by llm-traffic-sim fit-provider."
"""The first line of every file :func:`save_fitted_providers` writes; any other file is never replaced."""


def _interval(e: Estimate) -> str:
    return f"{e.value:.4g} [{e.low:.4g}, {e.high:.4g}]"


def _rate(r: Rate) -> str:
    return f"{r.count}/{r.total} = {r.share:.4%} [{r.low:.4%}, {r.high:.4%}]"


def fitted_yaml(fit: ProviderFit) -> str:
    """The ``providers:`` section as YAML, its provenance and intervals as comments above it."""
    import yaml
    lines = [FITTED_MARKER, f"# Log: {fit.source} ({fit.calls} attempts). Paste the list under a scenario's "
             "providers:. 95% intervals:"]
    for m in fit.models:
        lat = m.latency
        lines += [f"#   {m.label}: {m.attempts} attempts, {lat.ok_calls} ok, {lat.censored_calls} timed out "
                  f"(censored); latency by {lat.method.replace('_', ' ')}",
                  f"#     ttft_s {_interval(lat.ttft_s)}, tokens_per_s {_interval(lat.tokens_per_s)}, "
                  f"sigma {_interval(lat.sigma)}",
                  f"#     5xx {_rate(m.error)}, refused {_rate(m.refused)}, timeout {_rate(m.timeout)} "
                  "(of attempts that reached the model)",
                  f"#     429 {_rate(m.rate_limited)} of all attempts (load against limits: not a model setting)"]
    for e in fit.limits:
        lines.append(f"#   {e.provider} limits: in the {e.minutes_with_429} minutes with 429s it admitted a median "
                     f"{e.admitted_calls_per_min:.4g} calls, {e.admitted_input_tokens_per_min:,.0f} input and "
                     f"{e.admitted_output_tokens_per_min:,.0f} output tokens per minute (all keys): one of "
                     "them is the limit that bound, or a lower bound of it under per-second enforcement")
    lines += [f"# Note: {note}" for note in fit.notes]
    body = yaml.safe_dump({"providers": provider_sections(fit)}, sort_keys=False, default_flow_style=False)
    return "\n".join(lines) + "\n" + body


def save_fitted_providers(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; an existing file is replaced only if this command wrote it."""
    import os
    path = Path(path)
    if path.is_dir():
        raise ScenarioError(f"-o {path}: is a folder; name a file such as {path / 'provider.yaml'}")
    if path.exists():
        try:
            first = path.read_text(errors="replace").split("\n", 1)[0]
        except OSError as err:
            raise ScenarioError(f"-o {path}: cannot read the existing file: {err.strerror or err}") from None
        if first != FITTED_MARKER:
            raise ScenarioError(f"-o {path}: the file exists and was not written by fit-provider; it is kept: "
                                "choose another name")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ScenarioError(f"-o {path}: cannot write there: {err.strerror or err}") from None
    return path
