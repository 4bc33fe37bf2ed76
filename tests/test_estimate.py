"""Closed-form estimates: the textbook figures, key counts, costs with output tokens, and input validation."""

import math

import pytest

from sim.errors import ScenarioError
from sim.estimate import Estimate, estimate, estimate_rate
from sim.report.tables import format_estimate as format_table


def textbook_cost():
    # 10,000 DAU x 15 requests x 2,000 input tokens at $3 per 1M input tokens, no output tokens.
    return estimate(10_000, 15, 2_000, 0, 3.0, 15.0, latency_s=4.0)


def textbook_rate():
    # 5,000 DAU x 10 requests/day, 4 s per call, peak = 3x average.
    return estimate(5_000, 10, 1_000, 200, 3.0, 15.0, latency_s=4.0, peak_to_average=3.0)


def test_textbook_cost_is_900_a_day_and_27000_a_month():
    est = textbook_cost()
    assert est.requests_per_day == 150_000
    assert est.input_tokens_per_day == 300_000_000
    assert est.output_tokens_per_day == 0
    assert est.cost_per_day_usd == pytest.approx(900.0, rel=1e-9)
    assert est.cost_per_month_usd == pytest.approx(27_000.0, rel=1e-9)
    assert est.cost_per_request_usd == pytest.approx(0.006, rel=1e-9)


def test_textbook_rate_and_littles_law():
    est = textbook_rate()
    assert est.requests_per_day == 50_000
    assert est.average_rps == pytest.approx(0.5787, abs=5e-5)
    assert est.average_rps == pytest.approx(50_000 / 86_400, rel=1e-12)
    assert est.peak_rps == pytest.approx(1.736, abs=5e-4)
    assert est.peak_concurrency == pytest.approx(6.94, abs=0.01)
    assert est.average_concurrency == pytest.approx(est.peak_concurrency / 3, rel=1e-12)


def test_cost_with_output_tokens():
    # 1,000 requests/day x (1,000 in at $3/M + 500 out at $15/M) = 1,000 x ($0.003 + $0.0075) = $10.50/day
    est = estimate(100, 10, 1_000, 500, 3.0, 15.0, latency_s=2.0, days_per_month=31)
    assert est.cost_per_request_usd == pytest.approx(0.0105, rel=1e-12)
    assert est.cost_per_day_usd == pytest.approx(10.5, rel=1e-12)
    assert est.cost_per_month_usd == pytest.approx(10.5 * 31, rel=1e-12)
    assert est.output_tokens_per_day == 500_000


def test_llm_calls_per_request_multiply_calls_tokens_cost_and_concurrency():
    one = estimate(1_000, 10, 1_000, 100, 3.0, 15.0, latency_s=2.0)
    three = estimate(1_000, 10, 1_000, 100, 3.0, 15.0, latency_s=2.0, llm_calls_per_request=3)
    assert three.requests_per_day == one.requests_per_day
    assert three.llm_calls_per_day == 3 * one.llm_calls_per_day
    assert three.cost_per_day_usd == pytest.approx(3 * one.cost_per_day_usd)
    assert three.cost_per_request_usd == pytest.approx(3 * one.cost_per_request_usd)
    assert three.peak_requests_per_min == pytest.approx(3 * one.peak_requests_per_min)
    assert three.peak_concurrency == pytest.approx(3 * one.peak_concurrency)
    assert three.peak_rps == pytest.approx(one.peak_rps)  # user requests are unchanged


def test_peak_per_minute_needs():
    est = textbook_rate()
    assert est.peak_requests_per_min == pytest.approx(est.peak_rps * 60)
    assert est.peak_input_tokens_per_min == pytest.approx(est.peak_requests_per_min * 1_000)
    assert est.peak_output_tokens_per_min == pytest.approx(est.peak_requests_per_min * 200)
    assert est.peak_tokens_per_min == pytest.approx(est.peak_requests_per_min * 1_200)


def test_keys_needed_100k_input_tpm_against_40k_key_is_3():
    # Choose a load whose peak input need is exactly 100,000 tokens/min: 50 calls/min x 2,000 tokens.
    # 50 calls/min at peak = 50/60 calls/s = 3x average, so the average is 50/180 req/s.
    est = estimate_rate(50 / 180, 2_000, 0, 3.0, 15.0, latency_s=4.0, limits={"input_tokens_per_min": 40_000})
    assert est.peak_input_tokens_per_min == pytest.approx(100_000)
    assert est.limit_utilisation["input_tokens_per_min"] == pytest.approx(2.5)
    assert est.keys_needed == 3
    assert est.binding_limit == "input_tokens_per_min"


def test_keys_needed_exact_multiple_is_not_rounded_up():
    est = estimate_rate(50 / 180, 2_000, 0, 3.0, 15.0, latency_s=4.0, limits={"input_tokens_per_min": 50_000})
    assert est.keys_needed == 2


def test_binding_limit_is_the_largest_need_over_limit():
    limits = {"requests_per_min": 50, "input_tokens_per_min": 30_000, "output_tokens_per_min": 8_000}
    # 120 calls/min x 100 in / 400 out: RPM 2.4 keys, ITPM 0.4, OTPM 6.0 -> output binds, 6 keys
    est = estimate_rate(120 / 60 / 3, 100, 400, 3.0, 15.0, latency_s=1.0, limits=limits)
    assert est.limit_utilisation["requests_per_min"] == pytest.approx(2.4)
    assert est.limit_utilisation["input_tokens_per_min"] == pytest.approx(0.4)
    assert est.limit_utilisation["output_tokens_per_min"] == pytest.approx(6.0)
    assert est.binding_limit == "output_tokens_per_min"
    assert est.keys_needed == 6


def test_combined_tpm_counts_input_plus_output():
    # 60 calls/min x (300 in + 200 out) = 30,000 combined TPM: exactly one 30,000 TPM key; 31,000 needs two.
    limits = {"tokens_per_min": 30_000}
    assert estimate_rate(60 / 60 / 3, 300, 200, 2.5, 10.0, latency_s=1.0, limits=limits).keys_needed == 1
    assert estimate_rate(62 / 60 / 3, 300, 200, 2.5, 10.0, latency_s=1.0, limits=limits).keys_needed == 2


def test_unlimited_and_absent_limits():
    est = textbook_rate()
    assert est.keys_needed is None and est.binding_limit is None and est.limit_utilisation == {}
    unlimited = {"requests_per_min": None, "input_tokens_per_min": None, "output_tokens_per_min": None}
    est = estimate(5_000, 10, 1_000, 200, 3.0, 15.0, latency_s=4.0, limits=unlimited)
    assert est.keys_needed == 1 and est.binding_limit is None


def test_provenance_keys_in_limits_are_ignored():
    limits = {"input_tokens_per_min": 40_000, "requests_per_min": None, "source": "lesson", "as_of": "2026-11-27"}
    est = estimate_rate(50 / 180, 2_000, 0, 3.0, 15.0, latency_s=4.0, limits=limits)
    assert est.keys_needed == 3


def test_estimate_rate_matches_estimate():
    by_users = estimate(5_000, 10, 1_000, 200, 3.0, 15.0, latency_s=4.0)
    by_rate = estimate_rate(50_000 / 86_400, 1_000, 200, 3.0, 15.0, latency_s=4.0)
    assert by_rate.requests_per_day == pytest.approx(by_users.requests_per_day)
    assert by_rate.cost_per_month_usd == pytest.approx(by_users.cost_per_month_usd)
    assert by_rate.peak_concurrency == pytest.approx(by_users.peak_concurrency)


def test_estimate_is_frozen_and_to_dict_is_plain():
    est = textbook_cost()
    assert isinstance(est, Estimate)
    with pytest.raises(AttributeError):
        est.cost_per_day_usd = 0  # type: ignore[misc]
    d = est.to_dict()
    assert d["cost_per_day_usd"] == pytest.approx(900.0)
    assert set(d) >= {
        "requests_per_day", "input_tokens_per_day", "output_tokens_per_day", "cost_per_request_usd",
        "cost_per_day_usd", "cost_per_month_usd", "average_rps", "peak_rps", "average_concurrency",
        "peak_concurrency", "peak_requests_per_min", "peak_input_tokens_per_min", "peak_output_tokens_per_min",
        "keys_needed", "binding_limit",
    }


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"dau": -1}, "dau"),
        ({"requests_per_user_per_day": float("nan")}, "requests_per_user_per_day"),
        ({"input_tokens": -5}, "input_tokens"),
        ({"output_tokens": float("inf")}, "output_tokens"),
        ({"input_usd_per_mtok": -0.01}, "input_usd_per_mtok"),
        ({"output_usd_per_mtok": "15"}, "output_usd_per_mtok"),
        ({"latency_s": -4}, "latency_s"),
        ({"peak_to_average": 0.5}, "peak_to_average"),
        ({"llm_calls_per_request": -1}, "llm_calls_per_request"),
        ({"days_per_month": float("-inf")}, "days_per_month"),
        ({"dau": True}, "dau"),
    ],
)
def test_bad_input_raises_valueerror_naming_the_parameter(kwargs, name):
    args = dict(
        dau=5_000, requests_per_user_per_day=10, input_tokens=1_000, output_tokens=200,
        input_usd_per_mtok=3.0, output_usd_per_mtok=15.0, latency_s=4.0,
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{name}: "):
        estimate(**args)


def test_bad_rate_and_limits():
    with pytest.raises(ValueError, match=r"^rate_per_s: "):
        estimate_rate(-1, 1_000, 0, 3.0, 15.0, latency_s=1.0)
    with pytest.raises(ScenarioError, match=r"^limits\.input_tokens_per_min: "):
        estimate_rate(1, 1_000, 0, 3.0, 15.0, latency_s=1.0, limits={"input_tokens_per_min": 0})
    with pytest.raises(ScenarioError, match=r"^limits\.requests_per_min: "):
        estimate_rate(1, 1_000, 0, 3.0, 15.0, latency_s=1.0, limits={"requests_per_min": math.nan})
    with pytest.raises(ScenarioError, match=r"^limits: has none of"):
        estimate_rate(1, 1_000, 0, 3.0, 15.0, latency_s=1.0, limits={"input_token_per_minute": 40_000})
    with pytest.raises(ScenarioError, match=r"^limits: must be a mapping"):
        estimate_rate(1, 1_000, 0, 3.0, 15.0, latency_s=1.0, limits=40_000)  # type: ignore[arg-type]


def test_format_table_has_units_separators_and_alignment():
    text = format_table(textbook_cost())
    assert "150,000" in text and "300,000,000" in text
    assert "$900.00" in text and "$27,000" in text
    for unit in ("req/day", "tokens/day", "USD/day", "USD/month", "req/s", "RPM", "input TPM"):
        assert unit in text
    lines = text.splitlines()

    def value_end(label, value):
        (line,) = [line for line in lines if line.strip().startswith(label)]
        return line.index(value) + len(value)

    # values are right-aligned in one column
    assert value_end("Cost per day", "$900.00") == value_end("Input tokens per day", "300,000,000")
    assert value_end("Cost per month", "$27,000") == value_end("Output tokens per day", "0")
    assert "Keys needed" not in text


def test_format_table_with_limits_names_binding_limit():
    est = estimate_rate(50 / 180, 2_000, 0, 3.0, 15.0, latency_s=4.0, limits={"input_tokens_per_min": 40_000})
    text = format_table(est)
    assert "Keys needed" in text and "binding: input_tokens_per_min" in text
    assert "0.5787" in format_table(textbook_rate()) and "6.944" in format_table(textbook_rate())
