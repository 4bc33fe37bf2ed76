"""Statistical and functional tests for sim.model.arrivals (fixed seeds, so deterministic)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.model import arrivals as A
from tests.measures import measured_peak_to_average

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = (REPO_ROOT / ".." / "shared" / "data").resolve()
AZURE_DIR = DATA_DIR / "traces" / "azure_llm_2023"
MOONCAKE_DIR = DATA_DIR / "traces" / "mooncake_fast25"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared trace data not found at {path} (expected ../shared/data next to the repo root)")
    return path


# --------------------------------------------------------------------------- #
# Diurnal weights
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("ptoa", [1.0, 1.2, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 24.0])
@pytest.mark.parametrize("peak_hour", [14.0, 0.0, 9.25, 23.0])
def test_diurnal_mean_one_and_exact_ratio(ptoa, peak_hour):
    w = A.diurnal_hourly_weights(ptoa, peak_hour)
    assert w.shape == (24,)
    assert np.all(w >= 0)
    assert abs(w.mean() - 1.0) < 1e-12
    assert abs(w.max() / w.mean() - ptoa) < 1e-9


def test_diurnal_shape_peak_and_trough():
    w = A.diurnal_hourly_weights(3.0, 14.0)
    assert int(np.argmax(w)) == 14
    assert int(np.argmin(w)) == 2  # 12 h away
    assert w.min() > 0
    # symmetric around the peak, monotone down to the trough
    for k in range(1, 12):
        assert w[(14 + k) % 24] == pytest.approx(w[(14 - k) % 24], rel=1e-12)
    assert np.all(np.diff(w[2:15]) > 0)


def test_diurnal_validation():
    for bad in (0.5, 0.999, 24.5, float("nan")):
        with pytest.raises(ValueError, match="peak_to_average"):
            A.diurnal_hourly_weights(bad)
    with pytest.raises(ValueError, match="peak_to_average"):
        A.diurnal_hourly_weights(13.0, peak_hour=14.5)  # two hours tie -> max 12
    w = A.diurnal_hourly_weights(12.0, peak_hour=14.5)
    assert abs(w.max() - 12.0) < 1e-9


def test_piecewise_rates():
    w = A.diurnal_hourly_weights(2.0)
    r = A.piecewise_rates(w, 5.0)
    assert np.allclose(r.rates_per_s, 5.0 * w)
    assert abs(r.mean_rate_per_s - 5.0) < 1e-12
    assert r(14 * 3600 + 10.0) == pytest.approx(5.0 * w[14])
    assert r(86400 + 14 * 3600 + 10.0) == pytest.approx(5.0 * w[14])  # periodic
    r2 = A.piecewise_rates(w, 5.0, start_offset_s=3600.0)
    assert r2(13 * 3600 + 1.0) == pytest.approx(5.0 * w[14])
    assert r.expected_count(0.0, 86400.0) == pytest.approx(5.0 * 86400)


# --------------------------------------------------------------------------- #
# NHPP
# --------------------------------------------------------------------------- #
def _expected_per_clock_hour(rate_fn: A.PiecewiseRate, duration_s: float, offset_s: float) -> np.ndarray:
    """Expected count per hour-of-day bin (0..23), aggregated over the whole run."""
    exp = np.zeros(24)
    # walk pieces of at most one hour, aligned with clock hours
    t = 0.0
    while t < duration_s:
        nxt = min(duration_s, (math.floor((t + offset_s) / 3600.0) + 1) * 3600.0 - offset_s)
        h = int(((t + offset_s) % 86400) // 3600)
        exp[h] += rate_fn.rates_per_s[h] * (nxt - t)
        t = nxt
    return exp


@pytest.mark.parametrize("offset_s,duration_s", [(0.0, 10 * 86400.0), (3.5 * 3600 + 17.0, 7 * 86400.0 + 5000.0)])
def test_nhpp_hourly_counts_chisquare(offset_s, duration_s):
    rng = np.random.default_rng(12345)
    w = A.diurnal_hourly_weights(3.0, 14.0)
    base = 0.5
    t = A.nhpp_arrival_times(rng, duration_s, base, w, start_offset_s=offset_s)
    assert t.min() >= 0 and t.max() < duration_s
    assert np.all(np.diff(t) >= 0)
    hours = ((t + offset_s) % 86400 // 3600).astype(int)
    obs = np.bincount(hours, minlength=24)
    exp = _expected_per_clock_hour(A.piecewise_rates(w, base), duration_s, offset_s)
    # Poisson counts, independent across bins: sum (O-E)^2/E ~ chi2(24)
    chi2 = float(np.sum((obs - exp) ** 2 / exp))
    assert stats.chi2.sf(chi2, df=24) > 0.001, (chi2, obs, exp)
    # and each bin within 4.5 sigma
    assert np.all(np.abs(obs - exp) < 4.5 * np.sqrt(exp))


def test_nhpp_constant_rate_is_exponential():
    rng = np.random.default_rng(2024)
    rate, dur = 5.0, 40_000.0
    t = A.nhpp_arrival_times(rng, dur, rate)
    n = t.size
    assert abs(n - rate * dur) < 3 * math.sqrt(rate * dur)
    gaps = np.diff(t) * rate
    res = stats.kstest(gaps, "expon")
    assert res.pvalue > 0.01, res
    # gaps also exponential across hour boundaries with flat weights
    t2 = A.nhpp_arrival_times(np.random.default_rng(7), 20_000.0, 2.0, np.ones(24), start_offset_s=1234.0)
    assert stats.kstest(np.diff(t2) * 2.0, "expon").pvalue > 0.01


def test_nhpp_edge_cases_and_reproducibility():
    assert A.nhpp_arrival_times(np.random.default_rng(0), 0.0, 5.0).size == 0
    assert A.nhpp_arrival_times(np.random.default_rng(0), 100.0, 0.0).size == 0
    a = A.nhpp_arrival_times(np.random.default_rng(9), 5000.0, 3.0, A.diurnal_hourly_weights(2.0))
    b = A.nhpp_arrival_times(np.random.default_rng(9), 5000.0, 3.0, A.diurnal_hourly_weights(2.0))
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="hourly_weights"):
        A.nhpp_arrival_times(np.random.default_rng(0), 10.0, 1.0, np.ones(12))
    with pytest.raises(ValueError, match="base_rate_per_s"):
        A.nhpp_arrival_times(np.random.default_rng(0), 10.0, -1.0)


def test_measured_peak_to_average_multi_day():
    rng = np.random.default_rng(31)
    days = 7
    t = A.nhpp_arrival_times(rng, days * 86400.0, 2.0, A.diurnal_hourly_weights(3.0))
    ptoa = measured_peak_to_average(t, 3600.0, duration_s=days * 86400.0)
    assert abs(ptoa - 3.0) / 3.0 < 0.03, ptoa
    # flat rate -> close to 1
    t_flat = A.nhpp_arrival_times(rng, days * 86400.0, 2.0)
    assert measured_peak_to_average(t_flat, duration_s=days * 86400.0) < 1.05


def test_measured_peak_to_average_basic():
    assert measured_peak_to_average([0.5, 1.5, 1.6, 1.7], bin_s=1.0) == pytest.approx(3 / 2)
    with pytest.raises(ValueError):
        measured_peak_to_average([])


# --------------------------------------------------------------------------- #
# MMPP
# --------------------------------------------------------------------------- #
def _idc(t: np.ndarray, window_s: float, duration_s: float) -> float:
    n_bins = int(duration_s // window_s)
    c = np.bincount((t // window_s).astype(int), minlength=n_bins)[:n_bins]
    return float(c.var(ddof=1) / c.mean())


def test_mmpp_mean_rate_and_dispersion():
    rng = np.random.default_rng(77)
    lam, dur, m, mb, mc = 0.5, 1_000_000.0, 3.0, 2.0, 8.0
    t = A.mmpp_arrival_times(rng, dur, lam, None, m, mb, mc)
    assert t.min() >= 0 and t.max() < dur and np.all(np.diff(t) >= 0)
    # long-run mean rate unchanged; sd of N from the theoretical IDC
    idc_T = A.mmpp_index_of_dispersion(lam, m, mb, mc, dur)
    sd = math.sqrt(lam * dur * idc_T)
    assert abs(t.size - lam * dur) < 4 * sd, (t.size, lam * dur, sd)
    assert abs(t.size / (lam * dur) - 1) < 0.01
    # over-dispersed, matching theory within 10%
    for window in (10.0, 60.0):
        measured = _idc(t, window, dur)
        theory = A.mmpp_index_of_dispersion(lam, m, mb, mc, window)
        assert measured > 1.2
        assert abs(measured / theory - 1) < 0.10, (window, measured, theory)


def test_mmpp_multiplier_one_is_poisson():
    rng = np.random.default_rng(5)
    t = A.mmpp_arrival_times(rng, 200_000.0, 1.0, None, 1.0, 5.0, 20.0)
    assert abs(_idc(t, 30.0, 200_000.0) - 1) < 0.1
    assert stats.kstest(np.diff(t), "expon").pvalue > 0.01


def test_mmpp_with_diurnal_keeps_mean_and_shape():
    rng = np.random.default_rng(8)
    days = 7
    dur = days * 86400.0
    w = A.diurnal_hourly_weights(2.0)
    t = A.mmpp_arrival_times(rng, dur, 1.0, w, 4.0, 5.0, 45.0, start_offset_s=6 * 3600.0)
    assert abs(t.size / dur - 1.0) < 0.02
    ptoa = measured_peak_to_average(t, duration_s=dur)
    assert 1.9 < ptoa < 2.3, ptoa


def test_mmpp_calm_factor_and_validation():
    assert A.mmpp_calm_factor(3.0, 2.0, 8.0) == pytest.approx(0.5)
    p = 0.2
    assert p * 3.0 + (1 - p) * A.mmpp_calm_factor(3.0, 2.0, 8.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="burst_rate_multiplier"):
        A.mmpp_arrival_times(np.random.default_rng(0), 100.0, 1.0, None, 3.0, 10.0, 10.0)
    with pytest.raises(ValueError, match="burst_rate_multiplier"):
        A.mmpp_arrival_times(np.random.default_rng(0), 100.0, 1.0, None, 0.5, 10.0, 10.0)
    with pytest.raises(ValueError, match="mean_calm_s"):
        A.mmpp_arrival_times(np.random.default_rng(0), 100.0, 1.0, None, 2.0, 10.0, 0.0)


# --------------------------------------------------------------------------- #
# Users, tokens, request shape
# --------------------------------------------------------------------------- #
def test_zipf_user_ids_skew():
    rng = np.random.default_rng(11)
    n, n_users = 1_000_000, 100_000
    ids = A.zipf_user_ids(rng, n, n_users, skew=1.0)
    assert ids.dtype == np.int32 and ids.shape == (n,)
    assert ids.min() >= 0 and ids.max() < n_users
    counts = np.bincount(ids, minlength=n_users)
    h = np.sum(1.0 / np.arange(1, n_users + 1))
    p0 = 1.0 / h
    assert abs(counts[0] - n * p0) < 4 * math.sqrt(n * p0 * (1 - p0))
    assert counts[0] / counts[1] == pytest.approx(2.0, rel=0.03)
    # log-log slope of the top 100 ranks ~ -skew
    k = np.arange(1, 101)
    slope = np.polyfit(np.log(k), np.log(counts[:100]), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.05)
    ids15 = A.zipf_user_ids(rng, 200_000, 1000, skew=1.5)
    c15 = np.bincount(ids15, minlength=1000)
    assert c15[0] / c15[3] == pytest.approx(4**1.5, rel=0.05)


def test_zipf_uniform_when_skew_zero():
    ids = A.zipf_user_ids(np.random.default_rng(3), 200_000, 50, skew=0.0)
    obs = np.bincount(ids, minlength=50)
    assert stats.chisquare(obs).pvalue > 0.001


def test_tokens_fixed():
    x = A.sample_tokens_fixed(5, 128)
    assert x.dtype == np.int64 and np.all(x == 128)
    with pytest.raises(ValueError):
        A.sample_tokens_fixed(3, 0)


def test_lognormal_params_and_recovery():
    mu, sigma = A.lognormal_params_from_median_p95(1000.0, 4000.0)
    assert mu == pytest.approx(math.log(1000.0))
    assert sigma == pytest.approx(math.log(4.0) / 1.6448536269514722)
    rng = np.random.default_rng(99)
    for median, p95 in [(1000.0, 4000.0), (250.0, 600.0), (50.0, 400.0)]:
        x = A.sample_tokens_lognormal(rng, 400_000, median, p95)
        assert x.dtype == np.int64 and x.min() >= 1
        assert np.median(x) == pytest.approx(median, rel=0.02)
        assert np.quantile(x, 0.95) == pytest.approx(p95, rel=0.02)
    y = A.sample_tokens_lognormal(rng, 100_000, 1000.0, 4000.0, min_tokens=200, max_tokens=3000)
    assert y.min() >= 200 and y.max() <= 3000
    z = A.sample_tokens_lognormal(rng, 10, 7.0, 7.0)
    assert np.all(z == 7)
    with pytest.raises(ValueError, match="p95"):
        A.lognormal_params_from_median_p95(100.0, 50.0)


def test_tokens_empirical():
    rng = np.random.default_rng(4)
    values = np.array([10, 20, 20, 40])
    x = A.sample_tokens_empirical(rng, 100_000, values)
    assert x.dtype == np.int64
    assert set(np.unique(x)) <= {10, 20, 40}
    assert np.mean(x == 20) == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError):
        A.sample_tokens_empirical(rng, 5, [])


def test_complexity_beta():
    c = A.sample_complexity(np.random.default_rng(1), 200_000, 2.0, 5.0)
    assert c.min() >= 0 and c.max() <= 1
    assert c.mean() == pytest.approx(2 / 7, abs=0.003)


def test_calls_per_request():
    rng = np.random.default_rng(6)
    f = A.sample_calls_per_request(rng, 10, 2.6, "fixed")
    assert f.dtype == np.int64 and np.all(f == 3)
    assert np.all(A.sample_calls_per_request(rng, 10, 1.2, "fixed") == 1)
    for mean in (1.0, 1.5, 4.0):
        g = A.sample_calls_per_request(rng, 300_000, mean, "geometric")
        assert g.min() >= 1
        sd = math.sqrt((1 - 1 / mean) * mean**2 / g.size)
        assert abs(g.mean() - mean) < 4 * sd + 1e-12, (mean, g.mean())
    with pytest.raises(ValueError, match="mean_calls"):
        A.sample_calls_per_request(rng, 10, 0.5, "geometric")
    with pytest.raises(ValueError, match="kind"):
        A.sample_calls_per_request(rng, 10, 2.0, "poisson")


# --------------------------------------------------------------------------- #
# Trace readers (real files)
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "name,rows,span_min",
    [("AzureLLMInferenceTrace_conv.csv", 19_366, 58.4), ("AzureLLMInferenceTrace_code.csv", 8_819, 57.3)],
)
def test_read_azure_trace(name, rows, span_min):
    df = A.read_azure_trace(_need(AZURE_DIR / name))
    assert list(df.columns) == ["arrival_s", "input_tokens", "output_tokens"]
    assert len(df) == rows
    assert df["arrival_s"].iloc[0] == 0.0
    assert df["arrival_s"].is_monotonic_increasing
    assert df["arrival_s"].iloc[-1] / 60 == pytest.approx(span_min, abs=0.05)
    assert df["input_tokens"].dtype == np.int64 and df["output_tokens"].dtype == np.int64
    assert (df["input_tokens"] > 0).all()


def test_read_azure_fraction_digits_exact():
    # 7 fractional digits are kept to 100 ns (second row of the conv file)
    df = A.read_azure_trace(_need(AZURE_DIR / "AzureLLMInferenceTrace_conv.csv"))
    assert df["arrival_s"].iloc[1] == pytest.approx(50.9951690 - 46.6805900, abs=1e-9)


def test_read_mooncake_trace():
    df = A.read_mooncake_trace(_need(MOONCAKE_DIR / "conversation_trace.jsonl"))
    assert len(df) == 12_031
    assert df["arrival_s"].iloc[0] == 0.0
    assert df["arrival_s"].is_monotonic_increasing
    assert df["input_tokens"].mean() == pytest.approx(12_035, abs=1)
    assert df["output_tokens"].mean() == pytest.approx(343, abs=1)


def test_trace_errors(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        A.read_azure_trace(missing)
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        A.read_mooncake_trace(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.csv"
    bad.write_text("TIMESTAMP,ContextTokens\n2023-11-16 18:15:46.6805900,374\n")
    with pytest.raises(ValueError, match=r"bad\.csv.*GeneratedTokens"):
        A.read_azure_trace(bad)
    badj = tmp_path / "bad.jsonl"
    badj.write_text('{"timestamp": 0, "input_length": 5}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl.*output_length"):
        A.read_mooncake_trace(badj)
    with pytest.raises(ValueError, match=r"bad\.csv.*when"):
        A.read_trace_csv(bad, "when", "ContextTokens", "ContextTokens")


def test_read_trace_csv_units_and_sorting(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("t,i,o\n3000,10,1\n1000,20,2\n2500,30,3\n")
    df = A.read_trace_csv(f, "t", "i", "o", time_unit="ms")
    assert df["arrival_s"].tolist() == [0.0, 1.5, 2.0]
    assert df["input_tokens"].tolist() == [20, 30, 10]
    g = tmp_path / "d.csv"
    # mixed fractional precision and no fraction at all
    g.write_text("ts,i,o\n2023-11-16 18:00:01,1,1\n2023-11-16 18:00:00.5,2,2\n2023-11-16 18:00:02.1234567,3,3\n")
    dg = A.read_trace_csv(g, "ts", "i", "o", time_unit="datetime")
    assert dg["arrival_s"].tolist() == pytest.approx([0.0, 0.5, 1.6234567], abs=1e-9)


def test_scale_trace():
    df = pd.DataFrame({"arrival_s": [0.0, 1.0, 2.0, 4.0], "input_tokens": [1, 2, 3, 4], "output_tokens": [5, 6, 7, 8]})
    fast = A.scale_trace(df, speedup=2.0)
    assert fast["arrival_s"].tolist() == [0.0, 0.5, 1.0, 2.0]
    slow = A.scale_trace(df, 0.5)
    assert slow["arrival_s"].iloc[-1] == 8.0
    tiled = A.scale_trace(df, 1.0, repeat_to_s=12.0)
    # period = span + mean gap = 4 + 4/3
    period = 4.0 + 4.0 / 3.0
    assert tiled["arrival_s"].max() < 12.0
    assert np.all(np.diff(tiled["arrival_s"]) > 0)
    assert tiled["arrival_s"].iloc[4] == pytest.approx(period)
    assert tiled["copy"].max() == 2
    assert tiled["input_tokens"].tolist()[:6] == [1, 2, 3, 4, 1, 2]
    assert len(A.scale_trace(df, 1.0, repeat_to_s=1.5)) == 2
    with pytest.raises(ValueError, match="speedup"):
        A.scale_trace(df, 0.0)


def test_scale_trace_real_mean_rate_preserved():
    df = A.read_azure_trace(_need(AZURE_DIR / "AzureLLMInferenceTrace_code.csv"))
    span = df["arrival_s"].iloc[-1]
    rate = (len(df) - 1) / span
    tiled = A.scale_trace(df, speedup=1.0, repeat_to_s=6 * 3600.0)
    assert len(tiled) / (6 * 3600.0) == pytest.approx(rate, rel=0.01)
