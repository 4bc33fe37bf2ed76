"""Fitting a workload to a trace: synthetic traces of known parameters, then the two Azure 2023 traces.

Synthetic traces are drawn from processes whose dispersion has a closed form (Poisson: 1 everywhere; MMPP:
``mmpp_index_of_dispersion``; clusters: ``cluster_index_of_dispersion``), so the estimators and the fit are
checked against theory, not against their own output.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.calibration.workload_fit import (fit_tokens, fit_workload, index_of_dispersion, interarrival_cv,
                                          ks_distance_integer, size_shape_for)
from sim.calibration.workload_scenario import SCENARIO_MARKER, fitted_scenario_data, fitted_scenario_yaml
from sim.calibration.workload_validation import validate_workload
from sim.config import validate_scenario
from sim.errors import ScenarioError
from sim.model import arrivals as A
from tests.conftest import shared_data

HOUR_S = 3600.0


def _trace(times: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    n = times.size
    return pd.DataFrame({"arrival_s": times, "input_tokens": np.rint(rng.lognormal(6.0, 1.0, n)).astype(int) + 1,
                         "output_tokens": np.rint(rng.lognormal(4.0, 0.8, n)).astype(int) + 1})


def _flat_pieces(duration_s: float, rate: float):
    return np.array([0.0]), np.array([duration_s]), np.array([rate])


# ------------------------------------------------------------------------------------ the estimators

def test_a_poisson_trace_has_cv_and_fano_factors_of_one():
    t = A.nhpp_arrival_times(np.random.default_rng(1), 4 * HOUR_S, 5.0)
    assert interarrival_cv(t) == pytest.approx(1.0, abs=0.02)
    for window in (1.0, 10.0, 60.0):
        assert index_of_dispersion(t, window, 4 * HOUR_S) == pytest.approx(1.0, abs=0.15)


def test_the_fano_factors_of_an_mmpp_match_its_closed_form():
    m, burst_s, calm_s, rate = 3.0, 30.0, 300.0, 5.0
    duration = 24 * HOUR_S
    t = A.mmpp_arrival_times(np.random.default_rng(2), duration, rate, None, m, burst_s, calm_s)
    for window in (1.0, 10.0, 60.0):
        theory = A.mmpp_index_of_dispersion(rate, m, burst_s, calm_s, window)
        assert index_of_dispersion(t, window, duration) == pytest.approx(theory, rel=0.12), window


@pytest.mark.parametrize("mean_size, shape", [(20.0, 1.0), (8.0, 50.0)])
def test_cluster_counts_match_the_closed_form_index_of_dispersion(mean_size, shape):
    spread, rate, duration = 2.0, 4.0, 24 * HOUR_S
    t = A.cluster_arrival_times(np.random.default_rng(3), *_flat_pieces(duration, rate), mean_size, spread, shape)
    assert t.size / duration == pytest.approx(rate, rel=0.03)      # clusters keep the mean rate
    for window in (1.0, 10.0, 60.0):
        theory = A.cluster_index_of_dispersion(window, mean_size, spread, shape)
        assert index_of_dispersion(t, window, duration) == pytest.approx(theory, rel=0.12), window


def test_cluster_sizes_have_the_negative_binomial_mean_and_variance():
    rng = np.random.default_rng(4)
    for mean, shape in ((5.0, 1.0), (30.0, 0.3), (12.0, 1e4)):
        sizes = A.cluster_sizes(rng, 200_000, mean, shape)
        m = mean - 1.0
        assert sizes.min() >= 1
        assert sizes.mean() == pytest.approx(mean, rel=0.02)
        assert sizes.var() == pytest.approx(m + m * m / shape, rel=0.05)
    # K for geometric sizes is 2 (mean - 1); size_shape_for inverts the size factor.
    assert A.cluster_size_factor(11.0, 1.0) == pytest.approx(20.0)
    assert size_shape_for(11.0, A.cluster_size_factor(11.0, 3.0)) == pytest.approx(3.0)


def test_the_ks_distance_of_integer_counts_is_the_largest_cdf_gap():
    values = np.array([1, 2, 2, 3])

    def uniform_1_to_4(k):
        return np.clip(np.asarray(k, float), 0, 4) / 4
    # ECDF at 1, 2, 3: 0.25, 0.75, 1.0; model: 0.25, 0.5, 0.75.
    assert ks_distance_integer(values, uniform_1_to_4) == pytest.approx(0.25)


def test_token_fits_recover_a_lognormal_and_prefer_the_empirical_table_for_a_mixture():
    rng = np.random.default_rng(5)
    lognormal = np.rint(np.exp(rng.normal(6.0, 0.7, 50_000))).astype(int)
    fit = fit_tokens(lognormal, "input_tokens")
    assert fit.lognormal_mu == pytest.approx(6.0, abs=0.01)
    assert fit.lognormal_sigma == pytest.approx(0.7, abs=0.01)
    assert fit.ks_lognormal < 0.01 and fit.ks_empirical < 0.01
    mixture = np.concatenate([np.full(20_000, 50), np.rint(np.exp(rng.normal(7.0, 0.3, 30_000))).astype(int)])
    fit = fit_tokens(mixture, "input_tokens")
    assert fit.ks_lognormal > 0.1 > 0.02 > fit.ks_empirical


def test_a_quantile_table_reproduces_its_distribution():
    table = np.quantile(np.arange(0, 1001), np.linspace(0, 1, 201))     # uniform on 0..1000
    draws = A.sample_tokens_quantiles(np.random.default_rng(6), 200_000, table)
    assert draws.min() >= 0 and draws.max() <= 1000
    assert np.percentile(draws, [50, 95, 99]) == pytest.approx([500, 950, 990], abs=6)


# ------------------------------------------------------------------------------------ the fit

def test_a_poisson_trace_fits_a_flat_poisson_workload():
    rng = np.random.default_rng(7)
    fit = fit_workload(_trace(A.nhpp_arrival_times(rng, HOUR_S, 5.0), rng), "poisson.csv")
    assert fit.burst.poisson or fit.burst.mean_cluster_size < 1.1
    assert fit.mean_rate_per_s == pytest.approx(5.0, rel=0.03)
    assert np.ptp(fit.profile_weights) < 0.35        # raw minute rates vary by about +-2 sd = +-0.3


def test_the_fit_recovers_the_size_factor_and_spread_of_a_cluster_trace():
    mean_size, spread, shape = 15.0, 3.0, 1.0
    rng = np.random.default_rng(8)
    t = A.cluster_arrival_times(rng, *_flat_pieces(6 * HOUR_S, 3.0), mean_size, spread, shape)
    fit = fit_workload(_trace(t, rng), "clusters.csv")
    assert fit.burst.size_factor == pytest.approx(A.cluster_size_factor(mean_size, shape), rel=0.25)
    assert fit.burst.cluster_spread_s == pytest.approx(spread, rel=0.35)
    assert fit.burst.model_cv == pytest.approx(fit.interarrival_cv, rel=0.1)


def test_the_fitted_scenario_is_runnable_says_its_source_and_sets_no_limits():
    rng = np.random.default_rng(9)
    t = A.cluster_arrival_times(rng, *_flat_pieces(HOUR_S, 2.0), 6.0, 1.0, 1.0)
    fit = fit_workload(_trace(t, rng), "some/trace.csv")
    text = fitted_scenario_yaml(fit, "empirical")
    assert text.startswith(SCENARIO_MARKER) and "some/trace.csv" in text.splitlines()[0]
    scenario = validate_scenario(yaml.safe_load(text))
    assert "some/trace.csv" in scenario.description
    assert scenario.duration >= t[-1] - t[0]
    assert scenario.gateway.workers is None and scenario.gateway.user_rate_limit is None
    assert all(v is None for p in scenario.providers for v in p.limits.model_dump(exclude={"preset"}).values())
    lognormal = validate_scenario(fitted_scenario_data(fit, "lognormal"))
    assert lognormal.workload.input_tokens.type == "lognormal"


def test_validation_of_a_cluster_trace_against_its_fit(tmp_path):
    rng = np.random.default_rng(10)
    t = A.cluster_arrival_times(rng, *_flat_pieces(HOUR_S, 3.0), 20.0, 2.0, 1.0)
    trace = _trace(t, rng)
    scenario = validate_scenario(fitted_scenario_data(fit_workload(trace, "c.csv")))
    table = validate_workload(trace, scenario, replications=3).table.set_index("statistic")
    for stat in ("interarrival_cv", "fano_1s", "fano_10s", "fano_60s"):
        assert table.loc[stat, "fitted/trace"] == pytest.approx(1.0, abs=0.3), stat
        assert table.loc[stat, "poisson/trace"] < 0.6, stat


@pytest.mark.parametrize("data, field", [
    ({"type": "quantiles", "values": [5, 3, 7]}, "ascending"),
    ({"type": "quantiles", "values": [1]}, "at least 2"),
])
def test_a_bad_quantile_table_is_named(data, field):
    from tests.conftest import small_scenario
    raw = small_scenario().model_dump(mode="json")
    raw["workload"]["input_tokens"] = data
    with pytest.raises(ScenarioError, match=rf"workload\.input_tokens.*{field}"):
        validate_scenario(raw)


def test_a_bad_cluster_size_is_named():
    from tests.conftest import small_scenario
    raw = small_scenario().model_dump(mode="json")
    raw["workload"]["burstiness"] = {"type": "cluster", "mean_cluster_size": 0.5}
    with pytest.raises(ScenarioError, match=r"workload\.burstiness\.cluster\.mean_cluster_size"):
        validate_scenario(raw)


# ------------------------------------------------------------------------------------ the Azure traces

def _azure(kind: str):
    path = shared_data(f"traces/azure_llm_2023/AzureLLMInferenceTrace_{kind}.csv")
    trace = A.read_azure_trace(path)
    scenario = validate_scenario(fitted_scenario_data(fit_workload(trace, str(path))))
    return validate_workload(trace, scenario, replications=5).table.set_index("statistic")


BURST_STATS = ("interarrival_cv", "fano_1s", "fano_10s", "fano_60s")
TOKEN_STATS = tuple(f"{c}_tokens_p{q}" for c in ("input", "output") for q in (50, 95, 99))


def test_the_azure_conversation_fit_reproduces_cv_fano_and_token_percentiles():
    table = _azure("conv")
    assert table.loc["interarrival_cv", "trace"] == pytest.approx(1.09, abs=0.02)
    for stat in BURST_STATS:
        assert table.loc[stat, "fitted/trace"] == pytest.approx(1.0, abs=0.2), stat
    for stat in TOKEN_STATS:
        assert table.loc[stat, "fitted/trace"] == pytest.approx(1.0, abs=0.05), stat


def test_the_azure_code_fit_reproduces_its_bursts_and_poisson_does_not():
    table = _azure("code")
    assert table.loc["interarrival_cv", "trace"] == pytest.approx(13.2, abs=0.2)
    assert table.loc["fano_10s", "trace"] == pytest.approx(72, abs=2)
    for stat in BURST_STATS:
        assert table.loc[stat, "fitted/trace"] == pytest.approx(1.0, abs=0.3), stat
        assert not 0.7 <= table.loc[stat, "poisson/trace"] <= 1.3, stat


def test_a_trace_on_a_time_grid_is_found_and_spread_back_to_poisson():
    from sim.calibration.workload_fit import time_grid_s
    rng = np.random.default_rng(11)
    t = A.nhpp_arrival_times(rng, HOUR_S, 3.0)
    rounded = np.floor(t / 3.0) * 3.0                        # Mooncake-style 3 s timestamps
    assert time_grid_s(t) is None and time_grid_s(rounded) == pytest.approx(3.0)
    assert index_of_dispersion(rounded, 1.0, HOUR_S) > 2     # the grid alone looks bursty
    fit = fit_workload(_trace(rounded, rng), "grid.csv")
    assert fit.time_grid_s == pytest.approx(3.0) and any("grid" in n for n in fit.notes)
    assert fit.fano[1.0] == pytest.approx(1.0, abs=0.1) and fit.interarrival_cv == pytest.approx(1.0, abs=0.05)


def test_a_step_profile_with_clusters_drives_the_workload_generator():
    from sim.model.streams import Streams
    from sim.model.workload import generate_workload
    from tests.conftest import small_scenario
    weights = [1.0, 3.0, 0.5, 1.5]                              # mean 1.5: normalised to 2/3, 2, 1/3, 1
    scenario = small_scenario().with_overrides({
        "duration": 4 * 600.0, "workload.rate_per_s": 4.0,
        "workload.profile": {"type": "steps", "step_s": 600.0, "weights": weights},
        "workload.burstiness": {"type": "cluster", "mean_cluster_size": 3.0, "cluster_spread_s": 1.0}})
    counts = np.zeros(4)
    for rep in range(4):
        t = generate_workload(scenario, Streams(scenario.seed, rep)).arrival_s
        counts += np.bincount((t // 600).astype(int), minlength=4)[:4] / 4
    expected = 4.0 * 600.0 * np.array(weights) / np.mean(weights)
    # sd of a step's count: sqrt(expected * (1 + K)) / 2 over 4 draws, K = 4: about 2-4 % of each count
    assert counts == pytest.approx(expected, rel=0.12)


def test_the_estimate_of_a_fitted_scenario_uses_the_rate_it_generates():
    from sim.experiments.scenario_estimate import estimate_from_scenario
    from tests.conftest import small_scenario
    # Steps 600 s: weights 1 and 3 (normalised 0.5, 1.5); a run of 900 s ends half-way through the second step.
    scenario = small_scenario().with_overrides({
        "duration": 900.0, "workload.rate_per_s": 2.0,
        "workload.profile": {"type": "steps", "step_s": 600.0, "weights": [1.0, 3.0]},
        "workload.input_tokens": {"type": "quantiles", "values": [0, 100, 200]}})
    est = estimate_from_scenario(scenario)
    assert est.average_rps == pytest.approx((1.0 * 600 + 3.0 * 300) / 900)
    assert est.input_tokens_per_day / est.llm_calls_per_day == pytest.approx(100.0)   # uniform on 0..200
