"""The bad-input fuzzer: every mutation of every shipped scenario ends cleanly.

Each case takes a shipped scenario (its YAML as written, or its fully resolved form, which holds every field of
the schema with its default), changes one thing (a field replaced by a boundary value, a wrong type, NaN,
infinity, a huge or negative number, a string, a boolean, null or a clock time; a number scaled by 0 to 1000;
a field dropped; a key duplicated) and runs ``python -m sim check`` on it in-process. It must end in one of two ways:

- exit 2 with a message of the form ``error: ...`` that names a field or the file, and no traceback; or
- exit 0, and then the scenario, shortened to a couple of simulated minutes, either is refused by the memory
  estimate (a clean exit 2 in ``run``) or runs, and the run's conservation checks hold: every request has
  exactly one outcome, the outcome counts add up to the total, and costs add up.

The budget is fixed (300 cases) and the cases are drawn once from a seeded generator, each a test of its own
named by what it mutates, so a failure names its case and reruns exactly. (Hypothesis drew the same cases,
but its derandomized sequence still differed between a run of this file alone and a run of the whole suite,
so a case that failed in one was never seen in the other; the property tests over the policy settings in
tests/test_settings.py keep Hypothesis where shrinking pays.)
"""
from __future__ import annotations

import contextlib
import copy
import io
import math
import random
import tempfile
from pathlib import Path

import pytest
import yaml

import sim
from sim.cli import main
from sim.config import Scenario, read_scenario_data
from sim.errors import ScenarioError
from sim.memory_estimate import check_fits_in_memory
from sim.model.run import simulate
from sim.record import OUTCOMES

SCENARIO_FILES = [sim.example_scenario(name) for name in sim.example_scenarios()]   # gateway configs left out


REPLACEMENTS = [0, -1, 1, 0.5, 1e-9, -1e-9, 10**30, 1e300, -1e300, math.nan, math.inf, -math.inf, "abc", "",
                True, False, None, [], {}, [1, 2], "13:30", "1e400", ".inf", "2h", 2**63]
TEST_MEMORY_BYTES = 512 * 2**20         # a fuzz case may use at most this much (the run would refuse more)
SHORT_RUN_S = 120.0
MAX_RATE_PER_S = 2.0


def _schema_field_names() -> set[str]:
    names: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    names.update(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(Scenario.model_json_schema())
    return names


FIELD_NAMES = _schema_field_names()


def _bases() -> list[tuple[str, str, dict]]:
    """(file, form, data): each shipped scenario as written and fully resolved."""
    out = []
    for path in SCENARIO_FILES:
        raw = read_scenario_data(path)
        out.append((str(path), "written", raw))
        out.append((str(path), "resolved", sim.load_scenario(path).model_dump(mode="json")))
    return out


BASES = _bases()


def leaf_paths(node, prefix=()) -> list[tuple]:
    """Every path to a value (mappings and lists included, so whole sections can be replaced too)."""
    paths = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            paths += leaf_paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            paths += leaf_paths(value, prefix + (i,))
    return paths


PATHS = [(i, path) for i, (_, _, data) in enumerate(BASES) for path in leaf_paths(data)]


def _parent(data, path):
    node = data
    for key in path[:-1]:
        node = node[key]
    return node


def mutated_text(base: dict, path: tuple, action: str, value) -> str:
    data = copy.deepcopy(base)
    parent = _parent(data, path)
    if action == "replace":
        parent[path[-1]] = value
    elif action == "scale":                     # a plausible neighbour of a valid value: the boundaries near it
        old = parent[path[-1]]
        if isinstance(old, (int, float)) and not isinstance(old, bool):
            parent[path[-1]] = type(old)(old * value) if isinstance(old, float) else round(old * value)
    elif action == "drop":
        del parent[path[-1]]
    text = yaml.safe_dump(data, sort_keys=False)
    if action == "duplicate":                   # a top-level key written twice
        key = next(iter(data))
        text += yaml.safe_dump({key: data[key]}, sort_keys=False)
    return text


ACTIONS = ["replace"] * 6 + ["scale"] * 3 + ["drop", "duplicate"]
SCALES = [0, 0.001, 0.5, 0.999, 1.001, 2, 10, 1000]
N_CASES = 300


def mutations(n: int, seed: int = 2026) -> list[tuple]:
    """``n`` (base index, path, action, value) cases drawn from a generator of its own."""
    rng = random.Random(seed)
    cases = []
    for _ in range(n):
        base_index, path = rng.choice(PATHS)
        action = rng.choice(ACTIONS)
        value = (rng.choice(REPLACEMENTS) if action == "replace"
                 else rng.choice(SCALES) if action == "scale" else None)
        cases.append((base_index, path, action, value))
    return cases


def case_id(case: tuple) -> str:
    base_index, path, action, value = case
    file, form, _ = BASES[base_index]
    return f"{Path(file).stem}[{form}].{'.'.join(map(str, path))}:{action}" + (
        f"={value!r}" if action in ("replace", "scale") else "")


CASES = mutations(N_CASES)


def shortened(scenario: Scenario) -> Scenario:
    """The same scenario over at most a couple of minutes and a couple of requests a second."""
    duration = scenario.duration
    rate = scenario.workload.mean_rate_per_s
    if rate is not None:
        duration = min(duration, max(SHORT_RUN_S, 2.0 / min(rate, MAX_RATE_PER_S)))
    overrides = {"duration": duration, "warmup": 0.0, "output.charts": False,
                 "faults": [f.model_dump(mode="json") for f in scenario.faults if f.start < duration]}
    overrides["faults"] = [{k: v for k, v in f.items()} for f in overrides["faults"]]
    for f in overrides["faults"]:
        f["ramp"] = [[o, x] for o, x in f["ramp"] if o <= f["duration"]]
    if scenario.workload.rate_per_s is not None:
        overrides["workload.rate_per_s"] = min(scenario.workload.rate_per_s, MAX_RATE_PER_S)
    elif scenario.workload.dau is not None:
        per_user = MAX_RATE_PER_S * 86400.0 / scenario.workload.dau
        overrides["workload.requests_per_user_per_day"] = min(scenario.workload.requests_per_user_per_day, per_user)
    return scenario.with_overrides(overrides)


def assert_conserved(result) -> None:
    req, calls, summary = result.requests, result.calls, result.summary
    assert req.outcome.notna().all() and set(req.outcome.astype(str).unique()) <= set(OUTCOMES)
    assert sum(summary[f"requests_{name}"] for name in OUTCOMES) == summary["requests_total"] == len(req)
    assert (req.end_s >= req.arrival_s).all()
    production = calls[~calls["shadow"].astype(bool)] if "shadow" in calls else calls
    assert production.cost_usd.sum() == pytest.approx(req.llm_cost_usd.sum(), rel=1e-9, abs=1e-9)
    assert req.cost_usd.sum() == pytest.approx(summary["cost_usd"], rel=1e-9, abs=1e-9)
    parts = req.llm_cost_usd + req.step_cost_usd + req.embedding_cost_usd
    assert req.cost_usd.to_numpy() == pytest.approx(parts.to_numpy(), rel=1e-9, abs=1e-12)


def check_in_process(path: Path) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        status = main(["check", str(path), "--quiet"])
    return status, err.getvalue()


def names_a_field_or_the_file(message: str, path: Path) -> bool:
    words = {w.strip(".,:;'()[]") for w in message.replace(".", " ").replace(":", " ").split()}
    return str(path) in message or bool(words & FIELD_NAMES)


@pytest.mark.slow
@pytest.mark.parametrize("mutation", CASES, ids=[case_id(c) for c in CASES])
def test_every_mutation_of_a_shipped_scenario_ends_cleanly(mutation):
    base_index, path, action, value = mutation
    file, form, base = BASES[base_index]
    text = mutated_text(base, path, action, value)
    with tempfile.TemporaryDirectory() as folder:      # no shipped scenario refers to a file by relative path
        scenario_path = Path(folder) / Path(file).name
        scenario_path.write_text(text)
        status, err = check_in_process(scenario_path)
        assert "Traceback" not in err
        if status == 2:
            assert err.startswith("error: ") and err.strip(), err
            assert names_a_field_or_the_file(err, scenario_path), err
            return
        assert status == 0, (status, err)
        scenario = sim.load_scenario(scenario_path)
    short = shortened(scenario)
    try:
        check_fits_in_memory(short, available_bytes=TEST_MEMORY_BYTES)
    except ScenarioError as refusal:
        assert "this run needs ~" in str(refusal)
        return
    assert_conserved(simulate(short))


def test_the_fuzzer_sees_every_shipped_scenario_and_the_whole_schema():
    assert len(SCENARIO_FILES) >= 15
    resolved_paths = {".".join(map(str, p)) for i, p in PATHS if BASES[i][1] == "resolved"}
    for field in ("gateway.request_timeout_s", "workload.n_intents", "output.interval_s", "cache.similarity.dim",
                  "faults.0.ramp", "workload.start_time_of_day"):
        assert any(p == field or p.endswith("." + field) or p.startswith(field) for p in resolved_paths), field
