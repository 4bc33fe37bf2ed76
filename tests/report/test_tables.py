"""One formatting module: the printed summary, the printed comparison, the chart labels and the estimate
write a number the same way."""
import math

import pandas as pd
import pytest

import sim
from sim.experiments.variants import comparison_frame, run_variants
from sim.report import tables
from tests.conftest import small_scenario


@pytest.mark.parametrize("value, digits, text", [
    (0.0, 3, "0"), (0.000123456, 3, "0.000123"), (7.1705, 3, "7.17"), (9.996, 3, "10.0"), (99.96, 3, "100"),
    (123.4, 3, "123"), (1043.37, 3, "1,043"), (-2.345, 3, "-2.35"), (0.57870, 4, "0.5787"), (6.9444, 4, "6.944"),
])
def test_sig_keeps_the_integer_part(value, digits, text):
    assert tables.sig(value, digits) == text


@pytest.mark.parametrize("value, text", [(150000.0, "150,000"), (2.5, "2.5"), (0.57870, "0.5787"), (4.0, "4")])
def test_plain_number_drops_trailing_zeros(value, text):
    assert tables.plain_number(value) == text


@pytest.mark.parametrize("seconds, text", [(0, "00:00"), (13.5 * 3600, "13:30"), (86400 + 60, "00:01"),
                                           (50400 + 59.6, "14:01")])
def test_clock_text(seconds, text):
    assert tables.clock_text(seconds) == text


@pytest.mark.parametrize("metric, value, text", [
    ("extra_cost_usd", -62.06, "-$62.06"), ("shadow_true_failure_rate_baseline", 0.05, "5.00%"),
    ("shadow_decided_after_samples", 1200, "1,200"), ("false_trips", 3, "3"), ("kill_switch_soft_after_s", 1043.37, "1,043"),
    ("shadow_decision", "promote", "promote"), ("time_to_open_s", float("nan"), "n/a"),
    ("spend_overshoot_usd", math.inf, "n/a"),
])
def test_format_value_by_metric_name(metric, value, text):
    assert tables.format_value(metric, value) == text


@pytest.fixture(scope="module")
def small_run():
    return sim.simulate(small_scenario(duration="5m"))


def test_printed_summary_uses_the_shared_formats(small_run):
    s = small_run.summary
    text = tables.format_summary(s)
    lines = dict(line.split("  ", 1) for line in text.splitlines())
    lines = {k.strip(): v.strip() for k, v in lines.items()}
    assert lines["availability"] == tables.format_value("availability", s["availability"])
    assert lines["latency p50 / p95 / p99"] == " / ".join(
        tables.format_value(k, s[k]) for k in ("latency_p50_s", "latency_p95_s", "latency_p99_s")) + " s"
    assert lines["cost"] == tables.usd(s["cost_usd"])
    assert lines["requests"] == f"{s['requests_total']:,}"


def test_printed_comparison_is_the_shared_table(tmp_path):
    scenario = small_scenario(duration="5m", variants={"one": {"resilience.retry.max_attempts": 1},
                                                       "three": {"resilience.retry.max_attempts": 3}})
    printed = run_variants(scenario, ["one", "three"], tmp_path / "out", charts=False)
    table = pd.read_csv(tmp_path / "out" / "comparison.csv", index_col="variant")
    summaries = {name: {c: table.loc[name, c] for c in table.columns} for name in table.index}
    assert printed == tables.format_table(comparison_frame(summaries, list(table.columns)))
    assert "%" in printed and "$" in printed


def test_format_frame_formats_settings_plainly_and_intervals_like_their_metric(monkeypatch):
    monkeypatch.setattr(tables, "TABLE_WIDTH", None)          # one block: the header is one line
    frame = pd.DataFrame({"resilience.breaker.failure_rate_threshold": [0.2, 0.5], "cache.ttl_s": [600, 86400],
                          "availability": [0.99512, 0.99999], "availability_ci95": [0.0012, 0.00001],
                          "failed_during_faults": [123.0, 8.0], "latency_p50_s_ci95": [0.01234, math.nan]})
    lines = tables.format_frame(frame).splitlines()
    assert lines[0].split() == list(frame.columns)
    assert lines[2].split() == ["0.2", "600", "99.51%", "0.120%", "123", "0.0123"]
    assert lines[3].split() == ["0.5", "86,400", "99.999%", "0.00100%", "8", "n/a"]
    assert len({len(line) for line in lines}) == 1                     # numbers right-aligned in columns
    labelled = tables.format_frame(pd.DataFrame({"variant": ["one", "three"], "availability": [1.0, 0.5]}))
    assert labelled.splitlines()[2].startswith("one ")               # a label column stays left-aligned


def test_a_table_wider_than_100_columns_is_wrapped_into_blocks_that_repeat_the_labels(monkeypatch):
    from sim.report import tables
    summaries = {f"variant_{i}": {"cost_usd": -62.06 * i, "availability": 0.99} for i in range(1, 4)}
    metrics = ["cost_usd", "availability", "latency_p95_s", "requests_total", "latency_p50_s", "ttft_p95_s",
               "cost_per_request_usd", "requests_failed", "requests_timeout", "error_rate"]
    text = tables.format_table(tables.comparison_table(summaries, metrics))
    assert max(len(line) for line in text.splitlines()) <= 100
    assert text.count("variant_1") == 2 and "-$62.06" in text and "$-" not in text
    assert all(m in text for m in metrics)
    monkeypatch.setattr(tables, "TABLE_WIDTH", None)               # --wide
    wide = tables.format_table(tables.comparison_table(summaries, metrics))
    assert max(len(line) for line in wide.splitlines()) > 100 and wide.count("variant_1") == 1


def test_a_paired_difference_shows_its_sign_as_money():
    import pandas as pd
    from sim.report.tables import format_paired
    paired = pd.DataFrame({"baseline": ["a", "a"], "cost_usd_diff": [27.05, -62.06],
                           "cost_usd_diff_ci95": [1.5, 2.0]}, index=pd.Index(["b", "c"], name="variant"))
    text = format_paired(paired, ["cost_usd"])
    assert "+$27.05 ± $1.50" in text and "-$62.06 ± $2.00" in text and "$-" not in text


def test_paired_table_leaves_out_a_metric_the_baseline_lacks_and_marks_a_single_missing_difference():
    from sim.report.tables import format_paired
    paired = pd.DataFrame({"baseline": ["a", "a"], "cost_usd_diff": [1.5, -2.0], "cost_usd_diff_ci95": [0.1, 0.2],
                           "time_to_open_s_diff": [float("nan")] * 2, "time_to_open_s_diff_ci95": [float("nan")] * 2,
                           "availability_diff": [0.01, float("nan")], "availability_diff_ci95": [0.001, float("nan")]},
                          index=pd.Index(["b", "c"], name="variant"))
    text = format_paired(paired, ["cost_usd", "time_to_open_s", "availability"])
    assert "time_to_open_s" not in text
    assert "-$2" in text and "+$1.5" in text
    assert "n/a" in text and "nan" not in text
