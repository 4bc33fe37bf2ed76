"""Fitting a provider from call logs: round trips through the simulator's own calls with known parameters.

Every tolerance is a number of standard errors computed here from the sample, not from the fitter: the
Fisher information of the lognormal latency model at the TRUE parameters, the binomial standard error at the
TRUE rates, Cox's standard error of a lognormal mean. At 4 standard errors a correct fitter fails a check
about once in 16,000 runs; the seeds are fixed, so the tests are deterministic.
"""
import math

import numpy as np
import pandas as pd
import pytest
import yaml

import sim
from sim.calibration.call_logs import LogColumns, read_calls_log, read_csv_log
from sim.calibration.provider_fit import FITTED_MARKER, fit_log, provider_sections, wilson_rate
from sim.cli import main
from sim.errors import ScenarioError
from tests.conftest import small_scenario

K = 4.0                 # standard errors allowed
TTFT_S, TOKENS_PER_S, SIGMA, ERROR_RATE, REFUSAL_RATE = 0.8, 50.0, 0.5, 0.03, 0.01


def known_scenario(**overrides):
    """One model with known latency and error parameters, varied output lengths, two hours at 1 request/s."""
    settings = {
        "duration": "2h", "routing.chain": ["alpha/m1"],
        "workload.output_tokens": {"type": "lognormal", "median": 200, "p95": 800},
        "providers.0.models.0.latency": {"ttft_s": TTFT_S, "tokens_per_s": TOKENS_PER_S, "sigma": SIGMA},
        "providers.0.models.0.error_rate": ERROR_RATE, "providers.0.models.0.refusal_rate": REFUSAL_RATE,
        "providers.0.models.0.timeout_s": 600.0,
    }
    return small_scenario(**{**settings, **overrides})


@pytest.fixture(scope="module")
def uncensored(tmp_path_factory):
    """A run with no timeouts (600 s client timeout, no request deadline), saved as a results folder."""
    out = tmp_path_factory.mktemp("fit") / "run"
    sim.simulate(known_scenario(**{"gateway.request_timeout_s": None}), seed=11).save(out, charts=False)
    return out


def fisher_standard_errors(tokens: np.ndarray, ttft: float, per_token: float, sigma: float) -> np.ndarray:
    """Standard errors of (ttft, seconds per token, sigma) from the Fisher information of
    log y ~ N(log(ttft + per_token * n) - sigma^2/2, sigma^2), at the given (true) parameters."""
    mean = ttft + per_token * tokens
    grads = np.stack([1 / mean, tokens / mean, np.full(len(tokens), -sigma)])
    info = grads @ grads.T / sigma ** 2
    info[2, 2] += 2 * len(tokens) / sigma ** 2
    return np.sqrt(np.diag(np.linalg.inv(info)))


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


# ------------------------------------------------------------------------------------------ round trips

def test_latency_is_recovered_from_the_simulators_calls(uncensored):
    log = read_calls_log(uncensored)
    fit = fit_log(log, "run").models[0]
    ok = log[log["status"] == "ok"]
    se_ttft, se_per_token, se_sigma = fisher_standard_errors(ok["output_tokens"].to_numpy(float), TTFT_S,
                                                             1 / TOKENS_PER_S, SIGMA)
    lat = fit.latency
    assert lat.method == "regression" and lat.censored_calls == 0
    assert abs(lat.ttft_s.value - TTFT_S) < K * se_ttft
    assert abs(1 / lat.tokens_per_s.value - 1 / TOKENS_PER_S) < K * se_per_token
    assert abs(lat.sigma.value - SIGMA) < K * se_sigma
    # the fitter's own 95% intervals are about as wide as the information says (within 25%)
    assert (lat.ttft_s.high - lat.ttft_s.low) / (2 * 1.96 * se_ttft) == pytest.approx(1, abs=0.25)
    assert (lat.sigma.high - lat.sigma.low) / (2 * 1.96 * se_sigma) == pytest.approx(1, abs=0.25)


def test_error_and_refusal_rates_are_recovered_with_wilson_intervals(uncensored):
    fit = fit_log(read_calls_log(uncensored), "run").models[0]
    reached = fit.error.total
    assert fit.attempts == reached              # no 429 and nothing too large in this run
    for rate, true in ((fit.error, ERROR_RATE), (fit.refused, REFUSAL_RATE)):
        assert abs(rate.share - true) < K * binomial_se(true, reached)
        assert rate.low < rate.share < rate.high
    assert fit.timeout.count == 0 and fit.rate_limited.count == 0
    assert fit.input_usd_per_mtok == pytest.approx(3.0) and fit.output_usd_per_mtok == pytest.approx(15.0)


def test_timeouts_are_censored_not_dropped(tmp_path):
    """A 6 s client timeout cuts ~30% of the calls: the censored fit still finds the parameters; fitting the
    answered calls alone (the naive way) would make the model look faster (and steadier) than it is."""
    out = tmp_path / "run"
    sim.simulate(known_scenario(**{"providers.0.models.0.timeout_s": 6.0}), seed=12).save(out, charts=False)
    log = read_calls_log(out)
    fit = fit_log(log, "run").models[0]
    assert 0.15 < fit.timeout.share < 0.6       # retries of long answers time out again
    assert fit.timeout_s == pytest.approx(6.0)
    ok = log[log["status"] == "ok"]
    # the uncensored information of the answered calls alone understates the standard errors: use twice them
    se = 2 * fisher_standard_errors(ok["output_tokens"].to_numpy(float), TTFT_S, 1 / TOKENS_PER_S, SIGMA)
    lat = fit.latency
    assert abs(1 / lat.tokens_per_s.value - 1 / TOKENS_PER_S) < K * se[1]
    assert abs(lat.sigma.value - SIGMA) < K * se[2]
    naive = fit_log(log[log["status"] != "timeout"], "answered only").models[0].latency
    assert naive.tokens_per_s.value - TOKENS_PER_S > K * se[1] * TOKENS_PER_S ** 2
    assert naive.sigma.value < lat.sigma.value


def test_429s_are_load_against_limits_and_point_to_the_limit(tmp_path):
    """30 requests/min allowed, 60 offered: 429s are reported of all attempts and left out of the error rate;
    the admitted calls per minute in minutes with 429s estimate the limit (a token bucket admits its rate)."""
    out = tmp_path / "run"
    scenario = known_scenario(**{"providers.0.limits.requests_per_min": 30, "resilience.retry.max_attempts": 1,
                                 "gateway.smooth_to_provider_limits": False})
    sim.simulate(scenario, seed=13).save(out, charts=False)
    result = fit_log(read_calls_log(out), "run")
    fit = result.models[0]
    assert fit.rate_limited.share > 0.3
    reached = fit.error.total
    assert reached == fit.attempts - fit.rate_limited.count
    assert abs(fit.error.share - ERROR_RATE) < K * binomial_se(ERROR_RATE, reached)
    (evidence,) = result.limits
    assert evidence.provider == "alpha" and evidence.minutes_with_429 > 50
    assert evidence.admitted_calls_per_min == pytest.approx(30, abs=1)


def test_the_written_section_loads_back_through_the_scenario_model(uncensored, tmp_path, capsys):
    out = tmp_path / "provider.yaml"
    assert main(["fit-provider", str(uncensored), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "alpha/m1" in printed and "regression" in printed
    text = out.read_text()
    assert text.startswith(FITTED_MARKER)
    providers = yaml.safe_load(text)["providers"]
    data = small_scenario().model_dump(mode="json")
    data.update(providers=providers, routing={"chain": ["alpha/m1"]})
    scenario = sim.config.validate_scenario(data)
    model = scenario.providers[0].models[0]
    assert model.latency.tokens_per_s == pytest.approx(TOKENS_PER_S, rel=0.1)
    assert model.error_rate == pytest.approx(ERROR_RATE, abs=0.01)
    # a second fit replaces the file this command wrote
    assert main(["fit-provider", str(uncensored), "-o", str(out)]) == 0


# ------------------------------------------------------------------------------------------ CSV logs

def synthetic_csv(path, n=3000, seed=5, ttft=0.5, tokens_per_s=40.0, sigma=0.25):
    """A gateway-style CSV: HTTP status codes, milliseconds, ISO timestamps, a TTFT column; the simulator's
    latency model (one mean-one lognormal factor on the whole call)."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(20, 1200, n)
    factor = np.exp(sigma * rng.standard_normal(n) - sigma ** 2 / 2)
    first = ttft * factor
    latency = first + tokens / tokens_per_s * factor
    u = rng.random(n)
    status = np.where(u < 0.05, 500, np.where(u < 0.07, 429, 200))
    start = pd.Timestamp("2024-05-01T10:00:00Z") + pd.to_timedelta(np.sort(rng.random(n)) * 3600, unit="s")
    input_tokens = rng.integers(100, 3000, n)
    billed = np.where(status == 200, (input_tokens * 2.5 + tokens * 10.0) / 1e6, 0.0)     # $2.50 / $10 per Mtok
    pd.DataFrame({"ts": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "model": "gpt-x", "status": status,
                  "input_tokens": input_tokens, "output_tokens": tokens, "latency_s": np.round(latency * 1000, 3),
                  "ttft_s": np.round(first * 1000, 3), "usd": billed}).to_csv(path, index=False)
    return dict(ttft=ttft, per_token=1 / tokens_per_s, sigma=sigma, n_ok=int((status == 200).sum()),
                reached=int((status != 429).sum()), span_s=(start.max() - start.min()).total_seconds())


def test_a_csv_with_ttft_is_fitted_directly(tmp_path):
    truth = synthetic_csv(tmp_path / "log.csv")
    log = read_csv_log(tmp_path / "log.csv", LogColumns(timestamp="ts", cost="usd", time_unit="ms",
                                                        provider_name="acme"))
    fit = fit_log(log, "log.csv").models[0]
    lat = fit.latency
    assert fit.label == "acme/gpt-x" and lat.method == "ttft_and_latency"
    s2, n = truth["sigma"] ** 2, truth["n_ok"]
    cox_se = math.sqrt(s2 / n + s2 * s2 / (2 * (n - 1)))        # of the log of a lognormal mean
    assert abs(math.log(lat.ttft_s.value / truth["ttft"])) < K * cox_se
    assert abs(math.log(truth["per_token"] * lat.tokens_per_s.value)) < K * cox_se
    assert abs(lat.sigma.value - truth["sigma"]) < K * truth["sigma"] / math.sqrt(2 * n)
    assert abs(lat.ttft_sigma - truth["sigma"]) < K * truth["sigma"] / math.sqrt(2 * n)
    p = 0.05 / 0.93                                              # 5xx among the attempts that were not 429s
    assert abs(fit.error.share - p) < K * binomial_se(p, truth["reached"])
    assert fit.rate_limited.share == pytest.approx(0.02, abs=K * binomial_se(0.02, 3000))
    assert fit.notes == []
    assert (fit.input_usd_per_mtok, fit.output_usd_per_mtok) == pytest.approx((2.5, 10.0), rel=1e-4)
    assert np.ptp(log["start_s"]) == pytest.approx(truth["span_s"], abs=1e-3)      # ISO dates read as seconds


def test_a_csv_without_ttft_says_it_used_a_regression(tmp_path, capsys):
    synthetic_csv(tmp_path / "log.csv")
    frame = pd.read_csv(tmp_path / "log.csv").drop(columns="ttft_s")
    frame.to_csv(tmp_path / "total_only.csv", index=False)
    assert main(["fit-provider", str(tmp_path / "total_only.csv"), "--time-unit", "ms"]) == 0
    out = capsys.readouterr().out
    assert "regression of latency on output tokens" in out and "providers:" in out


@pytest.mark.parametrize("change, args, message", [
    (lambda f: f.drop(columns="output_tokens"), [], "no column 'output_tokens' (--output-tokens-col)"),
    (lambda f: f, ["--latency-col", "duration"], "no column 'duration' (--latency-col)"),
    (lambda f: f, ["--ttft-col", "first_token"], "no column 'first_token' (--ttft-col)"),
    (lambda f: f.assign(latency_s=f["latency_s"].astype(str).where(f.index != 7, "12,5")), [],
     "column 'latency_s' (--latency-col) line 9 holds '12,5', not a number"),
    (lambda f: f.assign(input_tokens=f["input_tokens"].where(f.index != 3, -4)), [],
     "column 'input_tokens' (--input-tokens-col) line 5 holds"),
    (lambda f: f.assign(status=f["status"].astype(str).where(f.index != 2, "weird")), [],
     "column 'status' (--status-col) has values that are not a known status: 'weird' (1 rows)"),
    (lambda f: f.assign(ts=f["ts"].where(f.index != 1, "yesterday-ish")), ["--timestamp-col", "ts"],
     "column 'ts' (--timestamp-col) is neither seconds nor dates"),
    (lambda f: f.assign(output_tokens=200).drop(columns="ttft_s"), [], "cannot be told apart"),
    (lambda f: f.iloc[:0], [], "no calls in the log"),
])
def test_a_bad_csv_is_one_message_naming_the_column(tmp_path, capsys, change, args, message):
    synthetic_csv(tmp_path / "log.csv", n=200)
    change(pd.read_csv(tmp_path / "log.csv")).to_csv(tmp_path / "bad.csv", index=False)
    assert main(["fit-provider", str(tmp_path / "bad.csv"), "--time-unit", "ms", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_other_bad_logs_are_one_message(tmp_path, capsys):
    (tmp_path / "variants" / "a").mkdir(parents=True)
    (tmp_path / "variants" / "a" / "calls.parquet").write_bytes(b"")
    cases = [([str(tmp_path / "missing.csv")], "no such file"),
             ([str(tmp_path / "variants")], "name one design's folder"),
             ([str(tmp_path / "variants" / "a" / "calls.parquet")], "not a Parquet file"),
             ([str(tmp_path / "x.parquet"), "--ttft-col", "t"], "apply to --format csv only")]
    (tmp_path / "empty.csv").write_text("")
    cases.append(([str(tmp_path / "empty.csv")], "not a readable CSV"))
    for args, message in cases:
        assert main(["fit-provider", *args]) == 2
        assert message in capsys.readouterr().err


def test_a_file_the_command_did_not_write_is_never_replaced(uncensored, tmp_path, capsys):
    mine = tmp_path / "provider.yaml"
    mine.write_text("my notes\n")
    assert main(["fit-provider", str(uncensored), "-o", str(mine)]) == 2
    assert "was not written by fit-provider" in capsys.readouterr().err
    assert mine.read_text() == "my notes\n"
    assert not list(tmp_path.glob(".provider.yaml.tmp*"))


# ------------------------------------------------------------------------------------------ intervals

def test_wilson_interval_closed_forms_and_coverage():
    z = 1.959963984540054
    assert wilson_rate(0, 50).high == pytest.approx(z * z / (50 + z * z))        # the zero-events bound
    low, high = wilson_rate(7, 40)[3:]
    mirrored = wilson_rate(33, 40)
    assert (low, high) == pytest.approx((1 - mirrored.high, 1 - mirrored.low))
    rng = np.random.default_rng(0)
    counts = rng.binomial(200, 0.03, 4000)
    covered = np.mean([r.low <= 0.03 <= r.high for r in map(lambda k: wilson_rate(int(k), 200), counts)])
    assert 0.93 < covered < 0.975


def test_every_fitted_section_validates(uncensored):
    (section,) = provider_sections(fit_log(read_calls_log(uncensored), "run"))
    sim.config.ProviderConfig.model_validate(section)
    with pytest.raises(ScenarioError):
        fit_log(read_calls_log(uncensored).iloc[:5], "five calls")


def test_a_model_with_too_few_calls_is_skipped_and_said_so(uncensored):
    log = read_calls_log(uncensored)
    sparse = log.iloc[:4].assign(model="rare")
    fit = fit_log(pd.concat([log, sparse], ignore_index=True), "run")
    assert [m.model for m in fit.models] == ["m1"]
    assert any(note.startswith("not fitted: alpha/rare:") for note in fit.notes)


def test_the_azure_trace_has_no_latency_and_is_refused_by_name(capsys):
    from tests.conftest import shared_data
    trace = shared_data("traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv")
    assert main(["fit-provider", str(trace)]) == 2
    err = capsys.readouterr().err
    assert "no column 'model' (--model-col)" in err and "TIMESTAMP, ContextTokens, GeneratedTokens" in err


def test_the_chart_is_drawn_and_only_its_own_file_replaced(uncensored, tmp_path, capsys):
    from PIL import Image
    chart = tmp_path / "fit.png"
    for _ in range(2):                                  # the second run replaces the chart it drew
        assert main(["fit-provider", str(uncensored), "--chart", str(chart)]) == 0
        assert f"chart: {chart}" in capsys.readouterr().out
    with Image.open(chart) as image:
        assert image.size[0] > 600 and image.info["Software"] == "llm-traffic-sim fit-provider"
    foreign = tmp_path / "holiday.png"
    Image.new("RGB", (4, 4)).save(foreign)
    before = foreign.read_bytes()
    assert main(["fit-provider", str(uncensored), "--chart", str(foreign)]) == 2
    assert "was not drawn by fit-provider" in capsys.readouterr().err and foreign.read_bytes() == before
    assert main(["fit-provider", str(uncensored), "--chart", str(tmp_path / "fit.svg")]) == 2
    assert "name a .png file" in capsys.readouterr().err
