"""Real provider incidents, and a fault process fitted to them.

An LLM application is only as available as the providers behind it, and providers publish what went wrong:
status pages ("Elevated error rates on Claude 3.5 Sonnet"), postmortems ("a telemetry service overloaded
the Kubernetes control plane; the API was down for four hours"). ``provider_incidents.csv`` (in the shared
data folder beside the repository, ``<repo>/../shared/data/incidents/``) is a hand transcription of 17 such
pages: when each incident started and ended, what broke, how badly, and the link to the page.

This module reads that file (:func:`load_incidents`), turns one incident into a fault the simulator can
replay (:func:`incident_fault`), and summarises a provider's history as a random process of faults
(:func:`fit_fault_process`) from which new, plausible fault timelines are drawn (:func:`draw_faults`).

**How far to trust the numbers.** The file holds *major, public* incidents that someone chose to transcribe,
not a complete record: minor status-page entries ("degraded performance" for twenty minutes) are absent, and
so are the many partial incidents that never got a postmortem. The fitted rates are therefore a *lower bound*
on how often something goes wrong, and the kind mix is tilted towards the dramatic. With 7 to 9 incidents per
provider the rate itself is uncertain by roughly +-1/sqrt(n), about 35-40%. Use the process to ask "what if
incidents like these happen at about this rate", not to predict an SLA.

Reading the file (each a judgement, here so it is made once):

- Times are UTC. An end or start given as a date only is read as midnight UTC of that date.
- ``duration_min`` holds text such as ``~60 full + ~120 partial`` (the parts are added: 180), ``~240``,
  ``924`` or nothing; when empty the duration is end - start; when both are missing it is unknown (NaN) and
  the incident counts towards the rate but not the duration fit.
- ``kind`` maps to a fault kind: ``full_outage*`` -> outage with share 1; ``elevated_errors*`` -> error_rate;
  ``silent_*`` -> degradation; ``upstream_power_incident`` -> ``shared_cause`` (a cloud region failing under
  a provider: the cause of another row, not a provider fault itself).
- The share of failing calls of an error_rate incident is read from ``peak_severity`` when it gives one: the
  figure quoted for the API if there is one ("API ~25% errors" -> 0.25), else the largest "N% error" figure
  (">90% error rates" -> 0.9). Without a figure the share is :data:`DEFAULT_ERROR_SHARE` = 0.25, the one
  API-level figure in the file (openai-2025-06-10). A degradation's added probability of a bad answer is the
  largest "N% of ... requests" or "N% at worst" figure (Sonnet 4 misrouting: 16% at the worst hour), else
  :data:`DEFAULT_DEGRADATION_PROB` = 1% ("occasional wrong tokens": a guess).
- ``affects_api``: False for incidents whose scope is ChatGPT only (openai-2024-06-04 a and b, a database
  outage behind ChatGPT): an API client would not have seen them. :func:`fit_fault_process` leaves them out
  by default. The two phases of openai-2024-06-04 are two rows, and would count as two outages.
- The spurious-429 incident (openai-2026-06-03) is ``elevated_errors_and_latency`` in the file and so an
  error_rate here; its replay in ``experiments/incidents/`` models it as a rate_limit fault instead.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from sim.config import FaultConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INCIDENTS_PATH = REPO_ROOT / ".." / "shared" / "data" / "incidents" / "provider_incidents.csv"

SECONDS_PER_YEAR = 365.25 * 86400.0
FAULT_KINDS = ("outage", "error_rate", "degradation")      # the kinds a provider's own incident can be

#: Share of failing calls of an error_rate incident whose page gives no figure (see the module docstring).
DEFAULT_ERROR_SHARE = 0.25
#: Added probability of a bad answer of a degradation whose page gives no figure.
DEFAULT_DEGRADATION_PROB = 0.01
#: Below this many known durations a provider's duration distribution is pooled with the other providers'.
MIN_DURATION_POINTS = 5
#: The Azure South Central US power incident of 2024-12-26: 18:44Z to power restored ~22:00Z.
SHARED_CAUSE_MEDIAN_MIN = 196.0

_KIND_MAP = (("full_outage", "outage"), ("elevated_errors", "error_rate"), ("silent_", "degradation"),
             ("upstream_power_incident", "shared_cause"))
_NUMBER = r"(\d+(?:\.\d+)?)"


def default_incidents_path() -> Path:
    """``<repo>/../shared/data/incidents/provider_incidents.csv`` (may not exist on every machine)."""
    return DEFAULT_INCIDENTS_PATH.resolve()


# --------------------------------------------------------------------------------------------- reading

def parse_duration_min(text: Any) -> float:
    """Minutes from the file's duration text: ``"924"``, ``"~240"``, ``"~60 full + ~120 partial"`` (180); NaN if none."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return math.nan
    total, found = 0.0, False
    for part in str(text).split("+"):
        match = re.search(_NUMBER, part)
        if match:
            total += float(match.group(1))
            found = True
    return total if found else math.nan


def _full_part_min(text: Any) -> float:
    match = re.search(_NUMBER + r"\s*full", str(text)) if isinstance(text, str) else None
    return float(match.group(1)) if match else math.nan


def fault_kind(kind: str) -> str:
    """The fault kind of one of the file's ``kind`` values (outage, error_rate, degradation, shared_cause)."""
    for prefix, mapped in _KIND_MAP:
        if kind.startswith(prefix):
            return mapped
    raise ValueError(f"unknown incident kind {kind!r}")


def error_share(peak_severity: str) -> float | None:
    """The share of failing calls quoted in ``peak_severity`` (the API's figure first), or None."""
    text = peak_severity or ""
    api = re.search(r"\bAPI\b[^;%]*?" + _NUMBER + r"\s*%\s*error", text)
    if api:
        return float(api.group(1)) / 100.0
    figures = [float(x) for x in re.findall(_NUMBER + r"\s*%\s*error", text)]
    return max(figures) / 100.0 if figures else None


def degradation_prob(peak_severity: str) -> float | None:
    """The worst share of bad requests quoted in ``peak_severity`` ("16% at worst hour"), or None."""
    figures = re.findall(_NUMBER + r"\s*%\s*(?:of [^;,]*?requests|at worst)", peak_severity or "")
    return max(float(x) for x in figures) / 100.0 if figures else None


def _severity(fault: str, peak_severity: str) -> tuple[float, str]:
    if fault == "outage":
        return 1.0, "kind"
    if fault == "error_rate":
        share = error_share(peak_severity)
        return (share, "peak_severity") if share is not None else (DEFAULT_ERROR_SHARE, "default")
    if fault == "degradation":
        prob = degradation_prob(peak_severity)
        return (prob, "peak_severity") if prob is not None else (DEFAULT_DEGRADATION_PROB, "default")
    return math.nan, "none"


def load_incidents(path: str | Path | None = None) -> pd.DataFrame:
    """The incident file as a frame, one row per incident, with parsed times, durations, kinds and shares.

    Added columns: ``start``, ``end`` (UTC timestamps, NaT when absent), ``duration_min`` (float, NaN when
    unknown; the raw text is kept as ``duration_text``), ``duration_from`` ("column", "end-start" or
    "unknown"), ``full_outage_min`` (the fully-down part of an outage: the "N full" part of the text, else the
    whole duration), ``fault_kind``, ``share`` (outage 1; error_rate: share of calls failing; degradation:
    added probability of a bad answer), ``share_from`` ("kind", "peak_severity" or "default"),
    ``with_latency`` and ``affects_api``.
    """
    path = Path(path) if path is not None else default_incidents_path()
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = raw.rename(columns={"duration_min": "duration_text"}).copy()
    frame["start"] = pd.to_datetime(raw["start_utc"].replace("", None), utc=True, format="ISO8601")
    frame["end"] = pd.to_datetime(raw["end_utc"].replace("", None), utc=True, format="ISO8601")
    from_text = raw["duration_min"].map(parse_duration_min).astype(float)
    from_times = (frame["end"] - frame["start"]).dt.total_seconds() / 60.0
    frame["duration_min"] = from_text.fillna(from_times).astype(float)
    frame["duration_from"] = np.where(from_text.notna(), "column",
                                      np.where(from_times.notna(), "end-start", "unknown"))
    frame["fault_kind"] = raw["kind"].map(fault_kind)
    severity = [_severity(f, p) for f, p in zip(frame["fault_kind"], raw["peak_severity"])]
    frame["share"] = [s for s, _ in severity]
    frame["share_from"] = [w for _, w in severity]
    full_part = raw["duration_min"].map(_full_part_min).astype(float)
    frame["full_outage_min"] = np.where(frame["fault_kind"] == "outage",
                                        full_part.fillna(frame["duration_min"]), np.nan)
    frame["with_latency"] = raw["kind"].str.contains("latency")
    frame["affects_api"] = raw["scope"].str.contains(r"\bAPIs?\b") | ~raw["scope"].str.contains("ChatGPT")
    columns = ["id", "provider", "start", "end", "duration_min", "duration_from", "full_outage_min", "kind",
               "fault_kind", "share", "share_from", "with_latency", "affects_api", "duration_text",
               "start_utc", "end_utc"]
    return frame[columns + [c for c in frame.columns if c not in columns]]


def incident_fault(incident_row: Mapping[str, Any], target: str, start_s: float,
                   duration_s: float | None = None) -> FaultConfig:
    """One real incident replayed as a fault on ``target`` (a scenario's provider or provider/model name).

    The fault lasts the incident's duration (or ``duration_s``, e.g. to compress a weeks-long degradation);
    an error_rate fails ``share`` of calls, a degradation adds ``share`` to the probability of a bad answer,
    an outage fails every call. Its name is the incident id and its source the incident's page.
    """
    kind = incident_row["fault_kind"]
    if kind == "shared_cause":
        raise ValueError(f"{incident_row['id']}: an upstream cause, not a provider fault; replay the provider "
                         "incidents it caused, with every affected provider in one fault's targets")
    if duration_s is None:
        duration_s = float(incident_row["duration_min"]) * 60.0
        if not math.isfinite(duration_s):
            raise ValueError(f"{incident_row['id']}: duration unknown in the file; pass duration_s")
    share = float(incident_row["share"])
    magnitude = ({"hallucination_prob": share} if kind == "degradation" else {"share": share})
    return FaultConfig(kind=kind, targets=[target], start=start_s, duration=duration_s,
                       name=str(incident_row["id"]), cause=str(incident_row.get("cause", "")),
                       source=str(incident_row.get("source_url", "")), **magnitude)


# --------------------------------------------------------------------------------------------- the process

@dataclass(frozen=True)
class FaultProcess:
    """A provider's incidents as a random process: Poisson arrivals, a kind, a lognormal duration, a share.

    Durations are lognormal with the given median and sigma (of the log); outages and error_rate incidents
    share one distribution, degradations (days to weeks, not minutes to hours) have their own, always pooled
    across providers. ``error_shares`` are the shares of the provider's error_rate incidents (the page's
    figure, else :data:`DEFAULT_ERROR_SHARE`), drawn with equal probability; pooled over providers when it
    has none. ``degradation_probs`` are every degradation's figure (pooled: only Anthropic has any); the
    16% of the Sonnet 4 misrouting is its *worst hour*, so drawn degradations at that level are pessimistic.
    """

    provider: str
    n_incidents: int
    observed_years: float
    incidents_per_year: float
    kind_probs: tuple[float, float, float]     # outage, error_rate, degradation
    duration_median_min: float
    duration_sigma: float
    duration_points: int
    duration_pooled: bool
    degradation_median_min: float
    degradation_sigma: float
    error_shares: tuple[float, ...]
    error_shares_pooled: bool
    degradation_probs: tuple[float, ...]
    incident_ids: tuple[str, ...]

    @property
    def kind_mix(self) -> dict[str, float]:
        return dict(zip(FAULT_KINDS, self.kind_probs))


def _lognormal(minutes: pd.Series) -> tuple[float, float]:
    logs = np.log(minutes.to_numpy(dtype=float))
    if len(logs) == 0:
        return math.nan, math.nan
    return float(np.exp(logs.mean())), float(logs.std(ddof=1)) if len(logs) > 1 else 0.0


def _shares(frame: pd.DataFrame, kind: str) -> tuple[float, ...]:
    return tuple(float(s) for s in frame.loc[frame["fault_kind"] == kind, "share"])


def _utc(t: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(t)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def fit_fault_process(incidents: pd.DataFrame, providers: tuple[str, ...] = ("OpenAI", "Anthropic"),
                      window: tuple[Any, Any] | None = None, api_only: bool = True) -> dict[str, FaultProcess]:
    """Each provider's :class:`FaultProcess`, keyed by the file's provider name.

    The rate is the provider's incident count over the observed span in years: from its first to its last
    incident start in the file, or ``window`` = (start, end) when given (then only incidents starting in it
    count). ``api_only`` leaves out incidents that did not touch the API (ChatGPT-only). A provider with
    fewer than :data:`MIN_DURATION_POINTS` known outage/error durations gets the pooled distribution.
    Read the module docstring before quoting these numbers: the file is a lower bound.
    """
    frame = incidents[incidents["fault_kind"] != "shared_cause"]
    if api_only:
        frame = frame[frame["affects_api"]]
    if window is not None:
        lo, hi = _utc(window[0]), _utc(window[1])
        frame = frame[(frame["start"] >= lo) & (frame["start"] < hi)]
    frame = frame[frame["provider"].isin(providers)]
    loud = frame[frame["fault_kind"].isin(("outage", "error_rate")) & frame["duration_min"].notna()]
    pooled_duration = _lognormal(loud["duration_min"])
    silent = frame[(frame["fault_kind"] == "degradation") & frame["duration_min"].notna()]
    degradation_duration = _lognormal(silent["duration_min"])
    pooled_shares = _shares(frame, "error_rate") or (DEFAULT_ERROR_SHARE,)
    degradation_probs = _shares(frame, "degradation") or (DEFAULT_DEGRADATION_PROB,)
    out = {}
    for provider in providers:
        own = frame[frame["provider"] == provider]
        if own.empty:
            raise ValueError(f"no incidents of {provider!r} in the file (after filtering)")
        if window is not None:
            span_s = (hi - lo).total_seconds()
        else:
            span_s = (own["start"].max() - own["start"].min()).total_seconds()
        if span_s <= 0:
            raise ValueError(f"{provider}: one incident gives no observed span; pass window=(start, end)")
        years = span_s / SECONDS_PER_YEAR
        counts = own["fault_kind"].value_counts()
        own_loud = loud[loud["provider"] == provider]["duration_min"]
        pooled = len(own_loud) < MIN_DURATION_POINTS
        median, sigma = pooled_duration if pooled else _lognormal(own_loud)
        own_shares = _shares(own, "error_rate")
        out[provider] = FaultProcess(
            provider=provider, n_incidents=len(own), observed_years=years, incidents_per_year=len(own) / years,
            kind_probs=tuple(float(counts.get(k, 0)) / len(own) for k in FAULT_KINDS),
            duration_median_min=median, duration_sigma=sigma, duration_points=len(own_loud),
            duration_pooled=pooled, degradation_median_min=degradation_duration[0],
            degradation_sigma=degradation_duration[1], error_shares=own_shares or pooled_shares,
            error_shares_pooled=not own_shares, degradation_probs=degradation_probs,
            incident_ids=tuple(own["id"]))
    return out


# --------------------------------------------------------------------------------------------- drawing

def draw_faults(rng: np.random.Generator, process_by_provider: Mapping[str, FaultProcess], duration_s: float,
                shared_cause_per_year: float = 0.0, shared_targets: tuple[str, ...] | list[str] = (),
                start_s: float = 0.0, max_duration_s: float = 86400.0,
                shared_median_min: float = SHARED_CAUSE_MEDIAN_MIN, shared_sigma: float = 0.5
                ) -> list[FaultConfig]:
    """A random fault timeline over ``[start_s, start_s + duration_s)``, sorted by start.

    Keys of ``process_by_provider`` are the scenario's provider names (``{"openai": fit["OpenAI"]}``); each
    provider gets a Poisson number of incidents at uniform times, each with a kind from the mix, a lognormal
    duration capped at ``max_duration_s`` (a weeks-long degradation then simply outlasts the run) and a share
    drawn from the observed figures. Shared-cause incidents (a cloud region losing power under several
    providers at once) arrive at ``shared_cause_per_year`` and take every one of ``shared_targets`` down
    together (empty = every provider) as one outage; their duration is lognormal around the Azure
    2024-12-26 power incident (about 196 min), sigma ``shared_sigma`` (an assumption).

    The same generator state gives the same faults. Every incident takes the same draws whatever its kind,
    and providers are drawn in the mapping's order, then the shared causes.
    """
    years = duration_s / SECONDS_PER_YEAR
    faults: list[FaultConfig] = []
    for name, proc in process_by_provider.items():
        n = int(rng.poisson(proc.incidents_per_year * years))
        starts = start_s + rng.uniform(0.0, duration_s, n)
        kinds = rng.choice(len(FAULT_KINDS), size=n, p=np.asarray(proc.kind_probs) / sum(proc.kind_probs))
        z = rng.standard_normal(n)
        share_pick = rng.integers(0, len(proc.error_shares), n)
        prob_pick = rng.integers(0, len(proc.degradation_probs), n)
        for k in range(n):
            kind = FAULT_KINDS[kinds[k]]
            median, sigma = ((proc.degradation_median_min, proc.degradation_sigma) if kind == "degradation"
                             else (proc.duration_median_min, proc.duration_sigma))
            dur = min(max_duration_s, median * 60.0 * math.exp(sigma * z[k]))
            magnitude = {"outage": {"share": 1.0},
                         "error_rate": {"share": proc.error_shares[share_pick[k]]},
                         "degradation": {"hallucination_prob": proc.degradation_probs[prob_pick[k]]}}[kind]
            faults.append(FaultConfig(kind=kind, targets=[name], start=float(starts[k]), duration=dur,
                                      name=f"{name}-drawn-{k}", source=f"drawn from the fit of {proc.provider}'s "
                                      "incidents (sim.incidents)", **magnitude))
    n_shared = int(rng.poisson(shared_cause_per_year * years))
    starts = start_s + rng.uniform(0.0, duration_s, n_shared)
    z = rng.standard_normal(n_shared)
    for k in range(n_shared):
        dur = min(max_duration_s, shared_median_min * 60.0 * math.exp(shared_sigma * z[k]))
        faults.append(FaultConfig(kind="outage", targets=list(shared_targets), start=float(starts[k]),
                                  duration=dur, name=f"shared-drawn-{k}", cause="shared cause (a cloud "
                                  "region failing under several providers)"))
    return sorted(faults, key=lambda f: f.start)
