"""The scenario model: durations, overrides, variants, catalogue references and bad-input messages."""
import json
import textwrap

import pytest

import sim
from sim.cli import main
from sim.config import apply_overrides, parse_duration_s
from tests.conftest import EXPERIMENTS, small_scenario


@pytest.mark.parametrize("text, seconds", [
    (90, 90.0), ("90s", 90.0), ("15m", 900.0), ("2h", 7200.0), ("1d", 86400.0), ("1h30m", 5400.0),
    ("250ms", 0.25), ("12.5", 12.5), ("15min", 900.0)])
def test_durations_accept_seconds_and_unit_strings(text, seconds):
    assert parse_duration_s(text) == seconds


def test_set_overrides_by_dotted_path_with_list_indices():
    s = sim.load_scenario(EXPERIMENTS / "demo.yaml", ["workload.dau=3", "providers.0.max_concurrency=8",
                                                        "providers.0.models.0.latency.ttft_s=2", "duration=12h"])
    assert s.workload.dau == 3 and s.providers[0].max_concurrency == 8
    assert s.providers[0].models[0].latency.ttft_s == 2.0 and s.duration == 43200.0


def test_catalogue_entries_fill_prices_and_latency_and_can_be_overridden():
    s = sim.load_scenario(EXPERIMENTS / "demo.yaml", ["providers.0.models.0.input_usd_per_mtok=1.5"])
    m = s.providers[0].models[0]
    assert (m.input_usd_per_mtok, m.output_usd_per_mtok) == (1.5, 15.0)
    limits = s.providers[0].limits
    assert limits.requests_per_min == 4000 and limits.input_tokens_per_min == 2_000_000


def test_variants_apply_on_top_of_the_base():
    s = small_scenario(variants={"no_retry": {"resilience.retry.max_attempts": 1},
                                 "slow": {"providers.1.models.0.latency.ttft_s": 5}})
    assert s.variant("no_retry").resilience.retry.max_attempts == 1
    assert s.variant("no_retry").providers[1].models[0].latency.ttft_s == 0.6
    assert s.variant("slow").providers[1].models[0].latency.ttft_s == 5
    with pytest.raises(sim.ScenarioError, match="no variant 'nope'"):
        s.variant("nope")


def test_the_resolved_scenario_round_trips_through_yaml(tmp_path):
    s = sim.load_scenario(EXPERIMENTS / "demo.yaml")
    (tmp_path / "s.yaml").write_text(s.to_yaml())
    assert sim.load_scenario(tmp_path / "s.yaml") == s


def test_schema_is_json_with_descriptions(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "workload" in schema["properties"]
    assert schema["$defs"]["GatewayConfig"]["properties"]["max_queue"]["description"]


BASE = """
name: bad
duration: 1h
workload: {rate_per_s: 1, profile: {type: flat}}
providers:
  - name: p
    models: [{name: m, input_usd_per_mtok: 1, output_usd_per_mtok: 2}]
"""

BAD_INPUTS = [
    # (what, yaml text (None = use BASE), --set options, expected message fragment)
    ("unknown field", BASE.replace("rate_per_s: 1", "rate_per_s: 1, rate_per_sec: 2"), [],
     "workload.rate_per_sec: unknown field"),
    ("wrong type", BASE + "seed: abc\n", [], "seed: Input should be a valid integer"),
    ("negative rate", BASE, ["workload.rate_per_s=-1"], "workload.rate_per_s: Input should be greater than 0"),
    ("warm-up past the end", BASE + "warmup: 2h\n", [], "warmup (7200 s) must end before duration (3600 s)"),
    ("bad duration", BASE.replace("duration: 1h", "duration: 15 minutes"), [],
     "duration: '15 minutes' is not a duration"),
    ("not YAML", "name: [unclosed\n", [], "not valid YAML"),
    ("not a mapping", "- just\n- a list\n", [], "expected a YAML mapping"),
    ("missing trace", BASE.replace("rate_per_s: 1, ", "trace: {path: nowhere.csv}, "), [],
     "workload.trace.path: file not found"),
    ("two volumes", BASE.replace("rate_per_s: 1", "rate_per_s: 1, dau: 5"), [], "give exactly one volume"),
    ("unknown catalogue model", BASE.replace("name: m,", "name: m, catalogue: gpt-9,"), [],
     "unknown model 'gpt-9' in catalogue; known:"),
    ("index out of range", BASE, ["providers.3.max_concurrency=2"], "index out of range"),
    ("malformed --set", BASE, ["duration"], "expected PATH=VALUE"),
    ("unknown chain target", BASE + "routing: {chain: [p/x]}\n", [], "routing.chain: unknown target or group 'p/x'"),
    ("broken variant", BASE + "variants: {v: {gateway.workers: -2}}\n", [],
     "variants.v: gateway.workers: Input should be greater than 0"),
    ("missing required", BASE.replace("name: bad\n", ""), [], "name: required field is missing"),
    ("p95 below median", BASE.replace("profile: {type: flat}",
                                      "input_tokens: {type: lognormal, median: 10, p95: 5}"), [],
     "p95 (5.0) must be greater than median (10.0)"),
    # YAML 1.1 traps: base-60 numbers, duplicate keys, booleans as numbers
    ("clock time as a duration", BASE.replace("duration: 1h", "duration: 13:30"), [],
     "duration: '13:30' is a clock time, not a duration"),
    ("clock time as a fault start", BASE + "faults: [{kind: outage, start: 00:20, duration: 5m}]\n", [],
     "faults.0.start: '00:20' is a clock time, not a duration"),
    ("fault at without a time of day", BASE + "faults: [{kind: outage, at: '14:00', duration: 5m}]\n", [],
     "faults.0: at (a clock time) needs workload.start_time_of_day"),
    ("not a clock time", BASE.replace("rate_per_s: 1,", "rate_per_s: 1, start_time_of_day: '25:00',"), [],
     "workload.start_time_of_day: '25:00' is not a clock time"),
    ("duplicate key", BASE + "seed: 1\nseed: 2\n", [], "duplicate key 'seed' (first at line"),
    ("duplicate variant", BASE + "variants:\n  v: {seed: 1}\n  v: {seed: 2}\n", [], "duplicate key 'v'"),
    ("boolean seed", BASE + "seed: true\n", [], "seed: expected a number or text, got a boolean"),
    ("boolean rate", BASE, ["workload.rate_per_s=true"], "workload.rate_per_s: expected a number or text, got a bool"),
    ("boolean in a list", BASE + "faults: [{kind: outage, start: 0, duration: 5m, ramp: [[0, true]]}]\n", [],
     "faults.0.ramp: expected a number or text, got a boolean"),
    # NaN and infinity anywhere
    ("NaN ramp factor", BASE + "faults: [{kind: outage, start: 0, duration: 5m, ramp: [[0, .nan]]}]\n", [],
     "faults.0.ramp.0.1: Input should be a finite number"),
    ("infinite duration", BASE.replace("duration: 1h", "duration: .inf"), [],
     "duration: must be a finite number of seconds, got inf"),
    ("overflowing duration", BASE.replace("duration: 1h", "duration: 1e400"), [],
     "duration: must be a finite number of seconds"),
    ("infinite rate", BASE, ["workload.rate_per_s=.inf"], "workload.rate_per_s: Input should be a finite number"),
    ("infinite token p95", BASE.replace("profile: {type: flat}",
                                        "input_tokens: {type: lognormal, median: 10, p95: .inf}"), [],
     "workload.input_tokens.p95: Input should be a finite number"),
    # faults that never happen, runs that measure nothing
    ("fault after the end", BASE + "faults: [{kind: outage, start: 2h, duration: 5m}]\n", [],
     "faults.0.start (7200 s) is at or after the run's end"),
    ("fault at the end", BASE + "faults: [{kind: outage, start: 1h, duration: 5m}]\n", [],
     "faults.0.start (3600 s) is at or after the run's end"),
    ("fault at infinity", BASE + "faults: [{kind: outage, start: .inf, duration: 5m}]\n", [],
     "faults.0.start: must be a finite number of seconds"),
    ("zero requests", BASE, ["workload.rate_per_s=1e-9"], "expects 3.6e-06 requests: the run would measure nothing"),
    # what would exhaust the machine
    ("a billion users", BASE, ["workload.n_users=1000000000"],
     "workload.n_users: Input should be less than or equal to 100000000"),
    ("complexity shape 1e300 (the router's quantiles were NaN)", BASE, ["workload.complexity_alpha=1.0e300"],
     "workload.complexity_alpha: Input should be less than or equal to 10000"),
    ("a scenario name that leaves the results folder", BASE, ["name=../x"],
     "name: '../x' names a results folder"),
    ("a variant name that is an absolute path", BASE, ["variants./abs/path={}"],
     "variants: variant '/abs/path' names a results folder"),
    ("a billion intents", BASE, ["workload.n_intents=1000000000"],
     "workload.n_intents: Input should be less than or equal to 100000000"),
    ("duration 1e20", BASE, ["duration=1e20"], "duration: must be at most a year (31,622,400 s), got 1e+20 s"),
    ("nanosecond intervals", BASE, ["output.interval_s=1e-9"],
     "output.interval_s (1e-09 s) cuts the run's 3600 s into 3.6e+12 intervals; at most 1,000,000"),
    ("1e300 requests per user", BASE.replace("rate_per_s: 1", "dau: 100, requests_per_user_per_day: 1e300"), [],
     "workload.requests_per_user_per_day: Input should be less than or equal to 86400"),
    ("more than the machine holds", BASE.replace("duration: 1h", "duration: 300d"), ["workload.rate_per_s=100000"],
     "this run needs ~"),
    ("alias bomb in a variant",
     BASE + "variants:\n  v:\n    description:\n" + "".join(
         f"      - &a{i} [" + ", ".join([f"*a{i - 1}" if i else "x"] * 9) + "]\n" for i in range(10)), [],
     "expands to more than 200,000 values"),
    ("too many aliases", BASE + "x: &a 1\ny: [" + ", ".join(["*a"] * 150) + "]\n", [], "more than 100 aliases"),
    ("10,000-deep nesting", BASE + "variants: {v: " + "[" * 10_000 + "]" * 10_000 + "}\n", [],
     "nested more than 50 levels deep"),
    ("a 2 MB scenario", BASE + "description: '" + "x" * 2_000_000 + "'\n", [], "a scenario file may have at most"),
]


@pytest.mark.parametrize("what, text, sets, message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_exits_2_with_a_message_naming_the_field(tmp_path, capsys, what, text, sets, message):
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text))
    out = tmp_path / "out"
    argv = ["run", str(path), "--out", str(out)] + [x for s in sets for x in ("--set", s)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob("out*"))   # nothing half-written


def test_a_missing_scenario_file_is_named(capsys):
    assert main(["check", "no/such/file.yaml"]) == 2
    assert "no/such/file.yaml: scenario file not found" in capsys.readouterr().err


def test_set_creates_a_missing_section_but_not_through_a_value():
    data = {"a": 1}
    apply_overrides(data, {"b.c": 2})
    assert data == {"a": 1, "b": {"c": 2}}
    with pytest.raises(sim.ScenarioError, match="a is a value, not a section"):
        apply_overrides(data, {"a.x": 1})


# ------------------------------------------------------------------------------------------ clock times, YAML

def test_yaml_numbers_are_not_base_60_and_exponents_are_numbers():
    from sim.scenario_file import load_yaml_text
    assert load_yaml_text("a: 13:30\nb: 1e9\nc: 0x10\nd: 1_000\n") == {"a": "13:30", "b": 1e9, "c": 16, "d": 1000}


def test_a_clock_time_sets_the_time_of_day_and_places_a_fault(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(BASE).replace("rate_per_s: 1,", "rate_per_s: 1, start_time_of_day: 13:30,")
                    + "faults: [{kind: outage, at: 14:00, duration: 5m}, {kind: outage, start: 10m, duration: 1m}]\n")
    s = sim.load_scenario(path)
    assert s.workload.start_time_of_day == 13.5 * 3600
    assert [f.start for f in s.faults] == [1800.0, 600.0]
    assert "at" not in s.model_dump()["faults"][0]                  # resolved into start
    assert sim.load_scenario(path, ["duration=2d", "faults.0.at=13:00", "faults.0.start=null"]).faults[0].start \
        == 23.5 * 3600                                                 # the next 13:00 after 13:30
    with pytest.raises(sim.ScenarioError, match=r"faults.0.start \(84600 s\) is at or after the run's end"):
        sim.load_scenario(path, ["faults.0.at=13:00", "faults.0.start=null"])


def test_the_memory_estimate_is_within_a_factor_of_two_of_a_measured_run():
    import tracemalloc

    from sim.memory_estimate import BASE_BYTES, check_fits_in_memory, estimate_run_memory
    from sim.model.run import simulate
    scenario = small_scenario(**{"workload.rate_per_s": 5.0})
    estimate = estimate_run_memory(scenario)
    assert estimate.requests == pytest.approx(5.0 * 1800)
    tracemalloc.start()
    simulate(scenario)
    peak_bytes = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert 0.5 < (estimate.total_bytes - BASE_BYTES) / peak_bytes < 2.0
    with pytest.raises(sim.ScenarioError, match=r"this run needs ~\d+ MiB .* the machine has 1 MiB available; "
                                                 "shorten duration, lower the rate"):
        check_fits_in_memory(scenario, available_bytes=2**20)
