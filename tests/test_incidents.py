"""The real incident file, the fault process fitted to it, drawn timelines, and the incident scenarios."""
import math
import re

import numpy as np
import pandas as pd
import pytest

import sim
from sim.config import FaultConfig
from sim.incidents import (DEFAULT_DEGRADATION_PROB, DEFAULT_ERROR_SHARE, SECONDS_PER_YEAR, FaultProcess,
                           degradation_prob, draw_faults, error_share, fault_kind, fit_fault_process,
                           incident_fault, load_incidents, parse_duration_min)
from tests.conftest import EXPERIMENTS, shared_data

INCIDENT_FILE = "incidents/provider_incidents.csv"
INCIDENT_SCENARIOS = sorted((EXPERIMENTS / "incidents").glob("*.yaml"))


@pytest.fixture(scope="module")
def incidents():
    return load_incidents(shared_data(INCIDENT_FILE)).set_index("id", drop=False)


def process(rate=4.0, kind_probs=(0.3, 0.5, 0.2), **fields):
    values = dict(provider="Test", n_incidents=10, observed_years=2.5, incidents_per_year=rate,
                  kind_probs=kind_probs, duration_median_min=120.0, duration_sigma=0.8, duration_points=10,
                  duration_pooled=False, degradation_median_min=20_000.0, degradation_sigma=0.8,
                  error_shares=(0.25, 0.9), error_shares_pooled=False, degradation_probs=(0.16, 0.01),
                  incident_ids=())
    values.update(fields)
    return FaultProcess(**values)


# ------------------------------------------------------------------------------------------ parsing (no data)

@pytest.mark.parametrize("text, minutes", [
    ("924", 924.0), ("~240", 240.0), ("~60 full + ~120 partial", 180.0), ("", math.nan), (None, math.nan),
    (math.nan, math.nan), ("about 1.5", 1.5),
])
def test_duration_text_is_parsed_robustly(text, minutes):
    got = parse_duration_min(text)
    assert (math.isnan(got) and math.isnan(minutes)) or got == minutes


@pytest.mark.parametrize("text, share", [
    ("ChatGPT ~35% errors, API ~25% errors (availability 75%) during 09:00-15:00Z; ~5% at 08:45Z", 0.25),
    (">90% error rates on affected products", 0.9),
    ("gpt-4.1-mini success rate degraded ~20 min", None),
    ("partial", None), ("", None),
])
def test_error_share_prefers_the_api_figure(text, share):
    assert error_share(text) == share


def test_degradation_prob_takes_the_worst_request_share_not_the_user_share():
    text = ("0.8% of Sonnet 4 requests at start; 16% at worst hour on 2025-08-31; ~30% of Claude Code users "
            "had >=1 misrouted message; sticky routing")
    assert degradation_prob(text) == pytest.approx(0.16)
    assert degradation_prob("occasional wrong tokens") is None


@pytest.mark.parametrize("kind, mapped", [
    ("full_outage", "outage"), ("full_outage_single_model", "outage"),
    ("full_outage_then_elevated_errors", "outage"), ("full_outage_and_auth_errors", "outage"),
    ("elevated_errors", "error_rate"), ("elevated_errors_partial", "error_rate"),
    ("elevated_errors_and_latency", "error_rate"), ("silent_quality_degradation", "degradation"),
    ("silent_output_corruption", "degradation"), ("upstream_power_incident", "shared_cause"),
])
def test_kinds_map_to_fault_kinds(kind, mapped):
    assert fault_kind(kind) == mapped


def test_an_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="meteor"):
        fault_kind("meteor_strike")


# ------------------------------------------------------------------------------------------ the file

def test_the_file_loads_17_incidents_with_utc_times(incidents):
    assert len(incidents) == 17
    assert str(incidents["start"].dt.tz) == "UTC"
    assert incidents.loc["openai-2024-12-11", "start"] == pd.Timestamp("2024-12-11T23:16Z")
    assert incidents.loc["openai-2024-12-11", "end"] == pd.Timestamp("2024-12-12T03:38Z")
    assert incidents.loc["anthropic-2025-08-05-routing", "start"] == pd.Timestamp("2025-08-05T00:00Z")
    assert pd.isna(incidents.loc["openai-2022-08-19", "end"])
    assert incidents["source_url"].str.startswith("http").all()


def test_durations_come_from_the_text_else_from_the_times(incidents):
    d = incidents["duration_min"]
    assert d["openai-2024-12-11"] == 262
    assert d["openai-2025-06-10"] == 924
    assert d["openai-2022-08-19"] == 180 and incidents.loc["openai-2022-08-19", "full_outage_min"] == 60
    assert d["openai-2023-01-25"] == 240
    assert d["anthropic-2025-08-05-routing"] == 44 * 24 * 60
    assert incidents.loc["anthropic-2025-08-05-routing", "duration_from"] == "end-start"
    assert math.isnan(d["anthropic-2024-08-08"])
    assert incidents.loc["anthropic-2024-08-08", "duration_from"] == "unknown"
    known = incidents.dropna(subset=["start", "end"])
    by_times = (known["end"] - known["start"]).dt.total_seconds() / 60
    from_column = known["duration_from"] == "column"
    assert (known.loc[from_column, "duration_min"] - by_times[from_column]).abs().max() <= 2  # consistent


def test_kinds_and_shares_are_mapped(incidents):
    counts = incidents["fault_kind"].value_counts().to_dict()
    assert counts == {"outage": 6, "error_rate": 7, "degradation": 3, "shared_cause": 1}
    assert incidents.loc["azure-2024-12-26", "fault_kind"] == "shared_cause"
    assert incidents.loc["openai-2024-12-11", "share"] == 1.0
    assert incidents.loc["openai-2025-06-10", "share"] == pytest.approx(0.25)
    assert incidents.loc["openai-2024-12-26", "share"] == pytest.approx(0.9)
    assert incidents.loc["openai-2025-07-09", ["share", "share_from"]].tolist() == [DEFAULT_ERROR_SHARE, "default"]
    assert incidents.loc["anthropic-2025-08-05-routing", "share"] == pytest.approx(0.16)
    assert incidents.loc["anthropic-2025-08-25-topk", "share"] == DEFAULT_DEGRADATION_PROB
    assert incidents.loc["openai-2025-06-10", "with_latency"]
    assert not incidents.loc["openai-2024-06-04a", "affects_api"]
    assert incidents["affects_api"].sum() == 15


def test_one_incident_becomes_a_fault(incidents):
    outage = incident_fault(incidents.loc["openai-2024-12-11"], "openai", start_s=600.0)
    assert (outage.kind, outage.targets, outage.start, outage.duration, outage.share) == \
           ("outage", ["openai"], 600.0, 262 * 60.0, 1.0)
    assert outage.name == "openai-2024-12-11" and outage.source == "https://status.openai.com/incidents/ctrsv3lwd797"
    errors = incident_fault(incidents.loc["openai-2025-06-10"], "openai/gpt-4o", start_s=0.0)
    assert (errors.kind, errors.share, errors.duration) == ("error_rate", 0.25, 924 * 60.0)
    quiet = incident_fault(incidents.loc["anthropic-2025-08-05-routing"], "anthropic", 0.0, duration_s=3600.0)
    assert (quiet.kind, quiet.hallucination_prob, quiet.duration) == ("degradation", 0.16, 3600.0)
    with pytest.raises(ValueError, match="duration unknown"):
        incident_fault(incidents.loc["anthropic-2024-08-08"], "anthropic", 0.0)
    with pytest.raises(ValueError, match="upstream cause"):
        incident_fault(incidents.loc["azure-2024-12-26"], "openai", 0.0)


# ------------------------------------------------------------------------------------------ the fit

def test_fit_gives_positive_rates_and_a_kind_mix(incidents):
    fits = fit_fault_process(incidents)
    assert set(fits) == {"OpenAI", "Anthropic"}
    for proc in fits.values():
        assert proc.incidents_per_year > 0 and proc.observed_years > 0
        assert proc.incidents_per_year == pytest.approx(proc.n_incidents / proc.observed_years)
        assert sum(proc.kind_probs) == pytest.approx(1.0)
        assert proc.duration_median_min > 0 and proc.duration_sigma > 0
        assert all(0 < s <= 1 for s in proc.error_shares)
    openai, anthropic = fits["OpenAI"], fits["Anthropic"]
    assert openai.n_incidents == 7                               # the two ChatGPT-only rows left out
    assert openai.observed_years == pytest.approx(3.79, abs=0.01)  # 2022-08-19 to 2026-06-03
    assert openai.kind_mix == {"outage": 3 / 7, "error_rate": 4 / 7, "degradation": 0.0}
    assert not openai.duration_pooled and openai.duration_points == 7
    assert anthropic.n_incidents == 7 and anthropic.duration_pooled        # only 3 known durations
    assert anthropic.kind_mix == pytest.approx({"outage": 1 / 7, "error_rate": 3 / 7, "degradation": 3 / 7})
    logs = np.log([180, 240, 262, 460, 924, 55, 135])
    assert openai.duration_median_min == pytest.approx(math.exp(logs.mean()))
    assert openai.duration_sigma == pytest.approx(logs.std(ddof=1))


def test_fit_options_all_rows_and_an_observation_window(incidents):
    all_rows = fit_fault_process(incidents, api_only=False)["OpenAI"]
    assert all_rows.n_incidents == 9
    windowed = fit_fault_process(incidents, providers=("OpenAI",), window=("2024-01-01", "2026-01-01"))["OpenAI"]
    assert windowed.n_incidents == 4                      # 2024-12-11, 2024-12-26, 2025-06-10, 2025-07-09
    assert windowed.observed_years == pytest.approx(2.0, abs=0.01)
    with pytest.raises(ValueError, match="Google"):
        fit_fault_process(incidents, providers=("Google",))


# ------------------------------------------------------------------------------------------ drawing

def test_draw_faults_is_deterministic_for_a_seed():
    procs = {"openai": process(rate=20.0), "anthropic": process(rate=10.0)}
    kwargs = dict(duration_s=SECONDS_PER_YEAR, shared_cause_per_year=3.0, shared_targets=("openai", "anthropic"))
    a = draw_faults(np.random.default_rng(5), procs, **kwargs)
    b = draw_faults(np.random.default_rng(5), procs, **kwargs)
    c = draw_faults(np.random.default_rng(6), procs, **kwargs)
    dump = lambda faults: [f.model_dump() for f in faults]       # noqa: E731
    assert len(a) > 10 and dump(a) == dump(b) and dump(a) != dump(c)


def test_drawn_faults_are_valid_sorted_in_range_and_capped():
    procs = {"openai": process(rate=50.0, kind_probs=(0.2, 0.3, 0.5))}
    faults = draw_faults(np.random.default_rng(1), procs, duration_s=SECONDS_PER_YEAR / 4, start_s=100.0,
                         max_duration_s=6 * 3600.0, shared_cause_per_year=8.0, shared_targets=["openai", "x"])
    assert [f.start for f in faults] == sorted(f.start for f in faults)
    assert all(100.0 <= f.start < 100.0 + SECONDS_PER_YEAR / 4 for f in faults)
    assert all(0 < f.duration <= 6 * 3600.0 for f in faults)
    assert all(isinstance(f, FaultConfig) for f in faults)
    own = [f for f in faults if not f.name.startswith("shared")]
    assert {f.kind for f in own} == {"outage", "error_rate", "degradation"}
    assert all(f.targets == ["openai"] for f in own)
    assert all(f.share in (0.25, 0.9) for f in own if f.kind == "error_rate")
    assert all(f.hallucination_prob in (0.16, 0.01) for f in own if f.kind == "degradation")
    assert all(f.duration == 6 * 3600.0 for f in own if f.kind == "degradation")   # weeks, capped
    shared = [f for f in faults if f.name.startswith("shared")]
    assert shared and all(f.kind == "outage" and f.targets == ["openai", "x"] for f in shared)


@pytest.mark.parametrize("rate, shared_rate", [(4.0, 0.0), (1.5, 2.0)])
def test_mean_count_matches_rate_times_duration(rate, shared_rate):
    rng = np.random.default_rng(11)
    duration_s, n_runs = 0.5 * SECONDS_PER_YEAR, 2000
    procs = {"a": process(rate=rate), "b": process(rate=2 * rate)}
    counts = np.array([[sum(f.targets == [name] for f in faults) for name in ("a", "b")] +
                       [sum(f.name.startswith("shared") for f in faults)]
                       for faults in (draw_faults(rng, procs, duration_s, shared_rate, ("a", "b"))
                                      for _ in range(n_runs))])
    years = duration_s / SECONDS_PER_YEAR
    for column, lam in enumerate((rate * years, 2 * rate * years, shared_rate * years)):
        mean = counts[:, column].mean()
        assert abs(mean - lam) <= 3 * math.sqrt(lam / n_runs) + 1e-12, (column, mean, lam)


def test_the_fitted_process_draws_about_its_rate(incidents):
    fits = fit_fault_process(incidents)
    procs = {"openai": fits["OpenAI"], "anthropic": fits["Anthropic"]}
    rng = np.random.default_rng(2)
    n_runs = 1000
    totals = np.array([len(draw_faults(rng, procs, SECONDS_PER_YEAR)) for _ in range(n_runs)])
    lam = fits["OpenAI"].incidents_per_year + fits["Anthropic"].incidents_per_year
    assert abs(totals.mean() - lam) <= 3 * math.sqrt(lam / n_runs)


# ------------------------------------------------------------------------------------------ scenarios

def test_there_are_incident_scenarios():
    names = {p.name for p in INCIDENT_SCENARIOS}
    assert {"openai_2024_12_11_full_outage.yaml", "openai_2025_06_10_partial.yaml",
            "openai_2026_06_03_spurious_429.yaml", "anthropic_2025_08_silent_degradation.yaml",
            "textbook_15min_outage.yaml"} <= names


@pytest.mark.parametrize("path", INCIDENT_SCENARIOS, ids=lambda p: p.stem)
def test_incident_scenarios_validate_and_their_variants_resolve(path):
    scenario = sim.load_scenario(path)
    assert scenario.faults
    assert {"no_resilience", "retries", "breaker_fallback"} <= set(scenario.variants)
    for name in scenario.variants:
        variant = scenario.variant(name)
        assert variant.faults == scenario.faults
    assert scenario.variant("no_resilience").resilience.retry.max_attempts == 1
    breaker = scenario.variant("breaker_fallback").resilience
    assert breaker.breaker is not None and breaker.fallback
    failed = {t for f in scenario.faults for t in f.targets}
    primary = scenario.routing.chain[0]
    assert any(primary == t or primary.startswith(t + "/") for t in failed)   # the primary is what fails
    assert len(scenario.routing.chain) == 2
    rate = scenario.workload.mean_rate_per_s
    assert rate * scenario.duration <= 60_000                           # short runs
    assert all(f.end <= scenario.duration for f in scenario.faults)


@pytest.mark.parametrize("path", INCIDENT_SCENARIOS, ids=lambda p: p.stem)
def test_incident_scenarios_keep_their_sources_in_the_header(path):
    scenario = sim.load_scenario(path)
    header = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
    for f in scenario.faults:
        if f.source:
            assert f.source in header, f.source


def test_incident_sources_are_the_files_links(incidents):
    urls = set(incidents["source_url"])
    for path in INCIDENT_SCENARIOS:
        links = set(re.findall(r"https?://\S+", "".join(
            line for line in path.read_text().splitlines() if line.startswith("#"))))
        assert links <= urls, (path.name, links - urls)


def test_the_silent_degradation_has_the_quality_breaker():
    scenario = sim.load_scenario(EXPERIMENTS / "incidents" / "anthropic_2025_08_silent_degradation.yaml")
    assert scenario.variant("error_breaker").resilience.breaker.hallucination_rate_threshold is None
    quality = scenario.variant("quality_breaker").resilience.breaker
    assert quality.hallucination_rate_threshold == pytest.approx(0.05)
    (f,) = scenario.faults
    assert f.kind == "degradation" and f.hallucination_prob == 0.16
    assert f.ramp[0][1] == pytest.approx(0.05) and max(x for _, x in f.ramp) == 1.0
