"""Tuning: the best setting of a few parameters that still meets the service's bounds, with its evidence.

A sweep shows every combination; a tuner answers the question behind it: "the cheapest cache threshold
whose false-hit rate stays under 0.5%". It is a search over the candidate values of each parameter
(``sweep.parse_params``' lists), in two stages:

- *design*: the full factorial of the candidates when it fits in about 60% of the run budget, else a seeded
  sample of it; every point runs ``replications`` times;
- *refine* (up to two rounds, within the budget): more replications for the points near the top whose
  interval straddles a bound (the data cannot yet say on which side they are), and for numeric parameters
  the midpoints between the best point's value and its neighbours among the candidates.

Replication ``k`` of every point uses the same random stream ``k`` (common random numbers), so two points
differ by their parameters, not their dice, and the recommendation can be compared with the runner-up by
the paired difference of their objectives.

A point is *feasible* only when the 95% Student-t interval of every constrained metric clears the bound:
``availability>=0.999`` needs mean - half-width >= 0.999. One replication has no interval, so at least
two are required. The recommendation is the feasible point with the best objective mean; when none is
feasible the nearest point is named with the constraint it misses and by how much.

Constraints read ``metric>=x``, ``metric<=x``, ``metric>x`` or ``metric<x`` (spaces allowed); a value may be
a percentage, ``availability>=99.9%`` meaning 0.999. Strict and non-strict bounds are checked the same way
(an interval is continuous: touching the bound exactly is not evidence either way). The objective is a
summary metric or one of the tuned parameters (``--minimize providers.0.max_concurrency``: the least
capacity that meets the bounds).
"""
from __future__ import annotations

import json
import math
import re
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import pandas as pd

from sim.config import Scenario
from sim.errors import ScenarioError
from sim.experiments.sweep import aggregate, ci_halfwidth, expand_grid, run_one
from sim.results import atomic_dir

DESIGN_SHARE = 0.6
"""The part of the budget the initial design may use; the rest is kept for refinement."""

REFINE_ROUNDS = 2

_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*(%?)\s*$")


class Constraint(NamedTuple):
    metric: str
    op: str          # '>=', '<=', '>' or '<'
    bound: float

    @property
    def lower(self) -> bool:
        """True for a lower bound (the metric must stay above it)."""
        return self.op.startswith(">")

    def slack(self, mean: float, halfwidth: float) -> float:
        """How far the worst end of the interval is inside the bound (negative: outside or straddling)."""
        if not math.isfinite(mean) or not math.isfinite(halfwidth):
            return -math.inf
        return (mean - halfwidth - self.bound) if self.lower else (self.bound - mean - halfwidth)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def parse_constraint(text: str, known_metrics=None) -> Constraint:
    """``'availability >= 99.9%'`` -> Constraint('availability', '>=', 0.999); ScenarioError otherwise."""
    match = _CONSTRAINT.match(text)
    if not match:
        raise ScenarioError(f"--constraint {text!r}: expected METRIC>=X, METRIC<=X, METRIC>X or METRIC<X, "
                            f"e.g. 'availability>=0.999' or 'false_hit_rate<=0.5%'")
    metric, op, raw, percent = match.groups()
    try:
        bound = float(raw) / (100.0 if percent else 1.0)
    except ValueError:
        raise ScenarioError(f"--constraint {text!r}: {raw!r} is not a number") from None
    if not math.isfinite(bound):
        raise ScenarioError(f"--constraint {text!r}: the bound must be finite")
    if known_metrics is not None:
        check_metric("--constraint", metric, known_metrics)
    return Constraint(metric, op, bound)


def check_metric(flag: str, metric: str, known_metrics) -> None:
    if metric not in known_metrics:
        raise ScenarioError(f"{flag}: unknown metric {metric!r}; numeric summary metrics are: "
                            f"{', '.join(sorted(known_metrics))}")


class Objective(NamedTuple):
    metric: str
    sense: str = "min"      # 'min' or 'max'

    def better(self, a: float, b: float) -> bool:
        return a < b if self.sense == "min" else a > b


@dataclass
class TuneResult:
    runs: pd.DataFrame                  # one row per run: parameters, stage, replication, every metric
    summary: pd.DataFrame               # one row per point: means, ci95 half-widths, feasible
    recommendation: dict                # JSON-ready: feasible, point, evidence, runner_up, binding...
    params: list[str] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    objective: Objective | None = None

    @property
    def feasible(self) -> bool:
        return bool(self.recommendation["feasible"])


def known_metrics(row: dict, params) -> set[str]:
    return {k for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            and k not in ("seed", "replication") and k not in params}


class _Runner:
    """Runs (point, replication) jobs through an executor, keeps rows in submission order, counts to a budget."""

    def __init__(self, text: str, seed: int, executor: Executor | None, budget: int, on_run):
        self.text, self.seed, self.executor, self.budget, self.on_run = text, seed, executor, budget, on_run
        self.rows: list[dict] = []
        self.done_keys: set = set()

    @property
    def left(self) -> int:
        return self.budget - len(self.rows)

    def run(self, jobs: list[tuple[dict, int]], stage: str) -> None:
        jobs = [(p, k) for p, k in jobs if (_key(p), k) not in self.done_keys][: max(self.left, 0)]
        total = self.budget
        if self.executor is None:
            for point, k in jobs:
                self._add(run_one(self.text, point, self.seed, k), point, k, stage, total)
        else:
            futures = [(self.executor.submit(run_one, self.text, p, self.seed, k), p, k) for p, k in jobs]
            for fut, point, k in futures:
                self._add(fut.result(), point, k, stage, total)

    def _add(self, row: dict, point: dict, k: int, stage: str, total: int) -> None:
        row["stage"] = stage
        self.rows.append(row)
        self.done_keys.add((_key(point), k))
        if self.on_run is not None:
            self.on_run(len(self.rows), total)


def _key(point: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in point.items()))


def tune(scenario: Scenario, params: dict[str, list[Any]], objective: Objective, constraints: list[str],
         *, replications: int = 3, seed: int | None = None, executor: Executor | None = None,
         budget: int | None = None, on_run: Callable[[int, int], None] | None = None) -> TuneResult:
    """Search ``params`` for the feasible point with the best ``objective`` (see the module docstring).

    ``constraints`` are strings (``'availability>=0.999'``); ``budget`` caps the number of runs (default:
    twice the full factorial's runs). ``on_run(done, budget)`` is called after each run.
    """
    if replications < 2:
        raise ScenarioError(f"--replications: a feasible point needs a 95% interval, so at least 2 "
                            f"replications (default 3), got {replications}")
    if not params:
        raise ScenarioError("--param: give at least one parameter to tune")
    parsed = [parse_constraint(c) for c in constraints]
    if not parsed:
        raise ScenarioError("--constraint: give at least one constraint (without one, use sweep)")
    grid = expand_grid(params)
    for point in grid:                              # fail on a bad value before running anything
        scenario.with_overrides(point)
    budget = 2 * len(grid) * replications if budget is None else budget
    if budget < 2 * replications:
        raise ScenarioError(f"--budget: {budget} runs cannot evaluate even two points at "
                            f"{replications} replications")
    seed = scenario.seed if seed is None else seed
    rng = np.random.default_rng(seed)
    runner = _Runner(scenario.to_yaml(), seed, executor, budget, on_run)

    design = _design(grid, replications, budget, rng)
    runner.run([(design[0], 0)], "design")          # one run first: check metric names before the rest
    metrics = known_metrics(runner.rows[0], params)
    for c in parsed:
        check_metric("--constraint", c.metric, metrics)
    if objective.metric not in params:
        check_metric("--minimize/--maximize", objective.metric, metrics | set(params))
    runner.run([(p, k) for p in design for k in range(replications)], "design")

    for _ in range(REFINE_ROUNDS):
        if runner.left <= 0:
            break
        summary = summarize(pd.DataFrame(runner.rows), list(params), objective, parsed)
        jobs = _refine_jobs(summary, params, objective, parsed, replications, scenario)
        if not jobs:
            break
        runner.run(jobs, "refine")

    runs = pd.DataFrame(runner.rows)
    summary = summarize(runs, list(params), objective, parsed)
    rec = recommend(runs, summary, list(params), objective, parsed)
    return TuneResult(runs, summary, rec, list(params), parsed, objective)


def _design(grid: list[dict], replications: int, budget: int, rng) -> list[dict]:
    """The full factorial if it fits in the design share of the budget, else a seeded sample of it."""
    fits = max(2, int(budget * DESIGN_SHARE) // replications)
    if len(grid) <= fits:
        return grid
    chosen = sorted(rng.choice(len(grid), size=fits, replace=False))
    return [grid[i] for i in chosen]


def summarize(runs: pd.DataFrame, params: list[str], objective: Objective,
              constraints: list[Constraint]) -> pd.DataFrame:
    """One row per point: replications, every metric's mean and ci95 half-width, and the feasible flag."""
    metrics = [m for m in runs.columns if m not in params and m not in ("seed", "replication", "stage")
               and pd.api.types.is_numeric_dtype(runs[m]) and not pd.api.types.is_bool_dtype(runs[m])]
    table = aggregate(runs, params, metrics)
    if objective.metric in params:                  # a parameter as objective: known exactly
        table[f"{objective.metric}_ci95"] = 0.0
    for c in constraints:
        table[f"slack[{c}]"] = [c.slack(m, h) for m, h in zip(table[c.metric], table[f"{c.metric}_ci95"])]
    slacks = table[[f"slack[{c}]" for c in constraints]]
    table["feasible"] = (slacks >= 0).all(axis=1)
    return table


def _ranked(summary: pd.DataFrame, objective: Objective) -> pd.DataFrame:
    return summary.sort_values(objective.metric, ascending=objective.sense == "min", kind="stable")


def _refine_jobs(summary, params, objective, constraints, replications, scenario) -> list[tuple[dict, int]]:
    """More replications where an interval straddles a bound, and midpoints around the best point."""
    jobs: list[tuple[dict, int]] = []
    ranked = _ranked(summary, objective)
    for _, row in ranked.head(4).iterrows():        # the best few, feasible or not
        point = {p: _plain(row[p]) for p in params}
        if any(_straddles(c, row[c.metric], row[f"{c.metric}_ci95"]) for c in constraints):
            n = int(row["replications"])
            jobs += [(point, k) for k in range(n, n + replications)]
    feasible = ranked[ranked["feasible"]]
    if len(feasible):
        best = feasible.iloc[0]
        for p in params:
            for mid in _midpoints(summary[p], best[p]):
                point = {q: _plain(best[q]) for q in params} | {p: mid}
                try:
                    scenario.with_overrides(point)
                except ScenarioError:
                    continue
                jobs += [(point, k) for k in range(replications)]
    return jobs


def _straddles(c: Constraint, mean: float, hw: float) -> bool:
    if not (math.isfinite(mean) and math.isfinite(hw)):
        return False
    return mean - hw < c.bound < mean + hw


def _midpoints(values: pd.Series, best) -> list:
    """Midpoints between ``best`` and its neighbours among the numeric values tried (ints stay ints)."""
    if isinstance(best, (bool, np.bool_)) or not isinstance(best, (int, float, np.integer, np.floating)):
        return []
    tried = sorted({float(v) for v in values if isinstance(v, (int, float, np.integer, np.floating))})
    i = tried.index(float(best))
    integer = all(float(v).is_integer() for v in tried)
    mids = []
    for j in (i - 1, i + 1):
        if 0 <= j < len(tried):
            mid = (tried[i] + tried[j]) / 2
            if integer:
                mid = math.floor(mid) if j < i else math.ceil(mid)
                mid = int(mid)
                if mid in (tried[i], tried[j]):
                    continue
            else:
                mid = float(round(mid, 12))
            mids.append(mid)
    return mids


def _plain(value):
    """numpy scalars as Python values, so overrides and JSON see ints and floats."""
    return value.item() if isinstance(value, np.generic) else value


def recommend(runs, summary, params, objective, constraints) -> dict:
    """The JSON-ready recommendation (or the nearest point when nothing is feasible)."""
    ranked = _ranked(summary, objective)
    feasible = ranked[ranked["feasible"]]
    rec: dict[str, Any] = {"objective": {"metric": objective.metric, "sense": objective.sense},
                           "constraints": [str(c) for c in constraints],
                           "points": len(summary), "runs": len(runs), "feasible": bool(len(feasible))}
    if len(feasible):
        best = feasible.iloc[0]
        rec["point"] = _evidence(best, params, objective, constraints)
        slacks = {str(c): _scaled_slack(c, best) for c in constraints}
        rec["binding_constraint"] = min(slacks, key=slacks.get)
        if len(feasible) > 1:
            second = feasible.iloc[1]
            rec["runner_up"] = _evidence(second, params, objective, constraints)
            rec["versus_runner_up"] = _paired(runs, params, best, second, objective)
        else:
            rec["runner_up"] = None
        return rec
    violations = [_total_violation(row, constraints) for _, row in summary.iterrows()]
    row = summary.iloc[int(np.argmax(violations))]
    rec["nearest"] = _evidence(row, params, objective, constraints)
    rec["failing"] = [{"constraint": str(c), "short_by": -float(row[f"slack[{c}]"])}
                      for c in constraints if row[f"slack[{c}]"] < 0]
    return rec


def _scaled_slack(c: Constraint, row) -> float:
    return float(row[f"slack[{c}]"]) / max(abs(c.bound), 1e-12)


def _total_violation(row: dict, constraints) -> float:
    """Minus the sum of relative shortfalls (higher is nearer to feasible)."""
    return -sum(max(0.0, -row[f"slack[{c}]"]) / max(abs(c.bound), 1e-12) for c in constraints)


def _evidence(row, params, objective, constraints) -> dict:
    shown = [objective.metric] + [c.metric for c in constraints if c.metric != objective.metric]
    return {"params": {p: _plain(row[p]) for p in params}, "replications": int(row["replications"]),
            "metrics": {m: {"mean": _num(row[m]), "ci95": _num(row[f"{m}_ci95"])} for m in shown}}


def _num(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _select(runs: pd.DataFrame, params, row) -> pd.DataFrame:
    mask = np.ones(len(runs), dtype=bool)
    for p in params:
        mask &= (runs[p] == row[p]).to_numpy()
    return runs[mask].set_index("replication")


def _paired(runs, params, best, second, objective) -> dict:
    """Paired difference (best - runner-up) of the objective over their common replications."""
    if objective.metric in params:
        diff = float(best[objective.metric]) - float(second[objective.metric])
        return {"difference": diff, "ci95": 0.0, "replications": 0, "significant": diff != 0}
    a = _select(runs, params, best)[objective.metric].astype(float)
    b = _select(runs, params, second)[objective.metric].astype(float)
    d = (a - b).dropna().to_numpy()
    hw = ci_halfwidth(d)
    mean = float(d.mean()) if len(d) else math.nan
    return {"difference": _num(mean), "ci95": _num(hw), "replications": int(len(d)),
            "significant": bool(math.isfinite(hw) and abs(mean) > hw)}


def format_recommendation(result: TuneResult) -> str:
    """A few lines of text: the recommendation and its evidence, or why nothing is feasible."""
    rec = result.recommendation
    obj = result.objective
    lines = [f"{rec['runs']} runs over {rec['points']} points; {obj.sense}imize {obj.metric} "
             f"subject to {', '.join(rec['constraints'])}"]
    if rec["feasible"]:
        lines.append(f"recommendation: {_fmt_point(rec['point'])}")
        lines += _fmt_metrics(rec["point"])
        lines.append(f"binding constraint: {rec['binding_constraint']}")
        if rec["runner_up"]:
            v = rec["versus_runner_up"]
            verdict = "significantly better" if v["significant"] else "not significantly different"
            lines.append(f"runner-up: {_fmt_point(rec['runner_up'])}; {obj.metric} difference "
                         f"{_fmt(v['difference'])} ± {_fmt(v['ci95'])} (paired, {v['replications']} "
                         f"replications): {verdict}")
        else:
            lines.append("runner-up: none (no other point is feasible)")
    else:
        lines.append("NO FEASIBLE POINT: no point's 95% interval clears every bound")
        lines.append(f"nearest: {_fmt_point(rec['nearest'])}")
        lines += _fmt_metrics(rec["nearest"])
        lines += [f"  fails {f['constraint']} by {_fmt(f['short_by'])}" for f in rec["failing"]]
    return "\n".join(lines)


def _fmt_point(ev: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in ev["params"].items()) + f" ({ev['replications']} replications)"


def _fmt_metrics(ev: dict) -> list[str]:
    return [f"  {m} = {_fmt(v['mean'])} ± {_fmt(v['ci95'])}" for m, v in ev["metrics"].items()]


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def write_tune(result: TuneResult, out: Path, charts: bool = True) -> Path:
    """runs.parquet, summary.csv, recommendation.json, recommendation.md and tune.png, atomically."""
    with atomic_dir(out) as tmp:
        result.runs.to_parquet(tmp / "runs.parquet", index=False)
        result.summary.to_csv(tmp / "summary.csv", index=False)
        (tmp / "recommendation.json").write_text(json.dumps(result.recommendation, indent=2) + "\n")
        (tmp / "recommendation.md").write_text("# Tuning recommendation\n\n```\n"
                                               + format_recommendation(result) + "\n```\n")
        if charts:
            from sim.report.tune import tune_chart
            tune_chart(result, tmp / "tune.png")
    return Path(out)
