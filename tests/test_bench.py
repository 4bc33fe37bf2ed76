"""The benchmark harness (benchmarks/bench.py): its machinery, not its timings.

A smoke run of the tiniest cases must write a JSON with the yardstick and every case; the event count must
match the textbook model's closed form (6 events per customer, 2 for the arrival process); the deltas
against an earlier JSON and the linearity ratios are checked on hand-made results.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module          # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("bench", None)


def test_textbook_events_match_the_closed_form(bench):
    # Per customer: process start, request, timeout, release, process end; the arrival process adds one
    # timeout per customer and its own start and end.
    n = 2000
    assert bench.textbook_mmc(n).events == 6 * n + 2


def test_a_smoke_run_writes_every_case(bench, tmp_path, capsys):
    out = tmp_path / "smoke.json"
    assert bench.main(["--smoke", "--no-memory", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    expected = {"yardstick"} | {c.name for c in bench.build_cases("tiny")}
    assert set(data["cases"]) == expected
    for name, row in data["cases"].items():
        rps = row["requests_per_s"]
        assert row["requests"] > 0 and rps["min"] <= rps["median"] <= rps["max"], name
        assert row["ratio"] == pytest.approx(rps["median"] / data["cases"]["yardstick"]["requests_per_s"]["median"])
    for name in ("mmc", "main_job", "cache", "demo_x100"):
        assert data["cases"][name]["events_per_request"] > 1, name
    assert data["cases"]["semantic_cache_1e4"]["events_per_request"] is None   # no SimPy there
    assert 0 < data["startup"]["seconds"]["median"] < 60
    assert f"wrote {out}" in capsys.readouterr().out


def test_the_large_case_is_only_in_large_mode(bench):
    assert "large_10M" not in {c.name for c in bench.build_cases("tiny")}
    assert "large_10M" in {c.name for c in bench.build_cases("tiny", large=True)}


def test_event_counting_leaves_simpy_as_it_was(bench):
    import simpy
    original = simpy.Environment
    with bench.counting_environments() as envs:
        env = simpy.Environment()
        env.timeout(1.0)
        env.run()
    assert simpy.Environment is original
    assert envs == [env] and bench.events_scheduled(env) == 1


def test_peak_memory_sees_numpy_buffers(bench):
    size = 8_000_000

    def allocate():
        a = np.ones(size // 8)          # float64: `size` bytes
        return bench.Measure(int(a.sum() > 0), None)

    assert size <= bench.peak_memory(allocate) < 2 * size


def fake(cases: dict) -> dict:
    return {"cases": {name: {"requests_per_s": {"median": rps}, "ratio": ratio}
                      for name, (rps, ratio) in cases.items()}}


def test_deltas_are_percent_changes_of_cases_in_both(bench):
    previous = fake({"mmc": (100.0, 0.50), "cache": (40.0, 0.10), "gone": (1.0, 1.0)})
    current = fake({"mmc": (110.0, 0.40), "cache": (40.0, 0.15), "new": (5.0, 0.2)})
    delta = bench.deltas(current, previous)
    assert set(delta) == {"mmc", "cache"}
    assert delta["mmc"]["requests_per_s_pct"] == pytest.approx(10.0)
    assert delta["mmc"]["ratio_pct"] == pytest.approx(-20.0)
    assert delta["cache"]["requests_per_s_pct"] == pytest.approx(0.0)
    assert delta["cache"]["ratio_pct"] == pytest.approx(50.0)
    assert bench.deltas(current, {}) == {}


def test_linearity_is_time_per_request_over_that_at_1x(bench):
    cases = {f"demo_x{k}": {"requests_per_s": {"median": rps}} for k, rps in ((1, 1000.0), (10, 800.0),
                                                                             (100, 1250.0))}
    bench.add_linearity(cases)
    assert cases["demo_x10"]["time_per_request_vs_x1"] == pytest.approx(1.25)    # 1/800 over 1/1000
    assert cases["demo_x100"]["time_per_request_vs_x1"] == pytest.approx(0.8)
    assert "time_per_request_vs_x1" not in cases["demo_x1"]


def test_previous_json_is_the_newest_of_the_same_host_and_profile(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    files = {"box-2026-12-01T0900.json": "full", "box-2026-12-02T0900.json": "full",
             "box-2026-12-02T1000.json": "quick", "other-2026-12-03T0900.json": "full"}
    for name, profile in files.items():
        (tmp_path / name).write_text(json.dumps({"profile": profile}))
    (tmp_path / "box-2026-12-02T1100.json").write_text("not json")
    current = tmp_path / "box-2026-12-03T0900.json"
    current.write_text(json.dumps({"profile": "full"}))
    assert bench.previous_json("box", current, "full").name == "box-2026-12-02T0900.json"
    assert bench.previous_json("box", current, "quick").name == "box-2026-12-02T1000.json"
    assert bench.previous_json("nobody", current, "full") is None


def test_cases_are_selected_by_shell_patterns(bench):
    cases = bench.build_cases("tiny")
    assert [c.name for c in bench.select_cases(cases, "cache, semantic_cache_*")] == [
        "cache", "semantic_cache_1e3", "semantic_cache_1e4"]
    with pytest.raises(ValueError, match="no case matches nope"):
        bench.select_cases(cases, "cache,nope")


def test_a_filtered_run_writes_only_those_cases(bench, tmp_path):
    out = tmp_path / "some.json"
    assert bench.main(["--smoke", "--no-memory", "--cases", "semantic_cache_1e3", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert set(data["cases"]) == {"yardstick", "semantic_cache_1e3"} and data["startup"] is None
