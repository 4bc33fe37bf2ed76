"""Sweeps: parameter values, a design that picks combinations of them, each combination run (and replicated).

``--param`` gives a parameter (a dotted path of the scenario) and its values:

- a list ``cache.threshold=0.8,0.9`` (values read as YAML scalars, so ``x,y`` are strings);
- a linear range ``a:b:step`` (``0.85:0.97:0.03`` -> 0.85, 0.88, 0.91, 0.94, 0.97; ``b`` is included when it
  lies on the grid; integers stay integers when a, b and step are integers);
- a log-spaced range ``a:b:Nlog`` (``10:1000:3log`` -> 10, 100, 1000; a, b > 0);
- durations anywhere a number goes (``30s:2m:30s``, ``1m,5m,15m``), read in seconds.

A design chooses the combinations: ``factorial`` (every combination of the values) or ``lhs`` (a Latin
hypercube of ``samples`` points, seeded from the scenario seed: a range is sampled continuously over [a, b],
log-uniformly for log ranges, rounded for integer ranges; a list is categorical, the unit interval cut into
equal parts, one per value). Like a survey that asks every household (factorial) or a stratified sample of
them (Latin hypercube): the second covers many dimensions with few runs.

With ``replications=R`` each combination runs R times on the replication streams 0..R-1 of the seed, and
every combination sees the same R sets of random numbers (common random numbers, so differences between
combinations are the parameters', not the dice's). Each run is one row of ``runs``: its parameters, seed,
replication and every summary metric. ``aggregate`` adds means and 95% confidence intervals.

Runs are independent, so they go through a ``concurrent.futures``-style executor: in this process
(``serial``), local processes (``processes``), or a Dask distributed cluster (``dask``, with the optional
``distributed`` package: ``Client(address).get_executor()``). The same seed gives the same rows whichever
executor runs them. With a checkpoint folder each finished run is saved at once, so an interrupted sweep
resumes where it stopped and gives the same rows.

A run's fixed cost (imports of the model, numpy, pandas and scipy; about a second in a fresh process) is paid
once per worker, not once per run: the process pool is created once per sweep with the model imported
before its workers start (forked workers inherit it; :func:`warm_worker` imports it in spawned ones),
and a worker parses each distinct scenario text once (:func:`base_scenario`).
"""
from __future__ import annotations

import importlib

import itertools
import math
import os
import re
from functools import lru_cache
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import yaml

from sim.config import Scenario, parse_duration_s, validate_scenario
from sim.errors import ScenarioError
from sim.results import atomic_dir
from sim.scenario_file import load_yaml_text

MAX_COMBINATIONS = 10_000
"""More combinations than this is a typo (a step of 0.0001), not an experiment."""

DESIGNS = ("factorial", "lhs")


class ParamRange(list):
    """The grid values of a range (a list), remembering the interval for designs that sample it continuously."""

    def __init__(self, values, lo: float, hi: float, log: bool, integer: bool):
        super().__init__(values)
        self.lo, self.hi, self.log, self.integer = lo, hi, log, integer


_LOG_COUNT = re.compile(r"(\d+)\s*log")


def _number(text: str, item: str) -> int | float:
    """A number or a duration (in seconds); ints stay ints."""
    value = load_yaml_text(text.strip())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    try:
        seconds = parse_duration_s(text.strip())
    except ValueError:
        raise ScenarioError(f"--param {item!r}: {text.strip()!r} is not a number or a duration") from None
    return int(seconds) if seconds == int(seconds) else seconds


def _value(text: str) -> Any:
    """A list value: a YAML scalar, or seconds when it reads as a duration such as ``5m``."""
    value = load_yaml_text(text.strip())
    if isinstance(value, str):
        try:
            seconds = parse_duration_s(value)
        except ValueError:
            return value
        return int(seconds) if seconds == int(seconds) else seconds
    return value


def _tidy(x: float) -> float:
    return float(f"{x:.12g}")         # 0.9100000000000001 -> 0.91


def _parse_range(raw: str, item: str) -> ParamRange:
    parts = raw.split(":")
    if len(parts) != 3:
        raise ScenarioError(f"--param {item!r}: a range is a:b:step or a:b:Nlog")
    a, b = _number(parts[0], item), _number(parts[1], item)
    if a > b:
        raise ScenarioError(f"--param {item!r}: the range starts above its end ({a} > {b})")
    log = _LOG_COUNT.fullmatch(parts[2].strip().lower())
    if log:
        n = int(log.group(1))
        if n < 2:
            raise ScenarioError(f"--param {item!r}: a log range needs at least 2 points, got {n}")
        if a <= 0:
            raise ScenarioError(f"--param {item!r}: log range bounds must be positive, got {a}")
        _check_count(n, item)
        values = [_tidy(v) for v in np.geomspace(a, b, n)]
        integer = isinstance(a, int) and isinstance(b, int)
        if integer:
            values = [int(round(v)) for v in values]
        return ParamRange(values, a, b, log=True, integer=integer)
    step = _number(parts[2], item)
    if step <= 0:
        raise ScenarioError(f"--param {item!r}: the step must be positive, got {step}")
    count = math.floor((b - a) / step + 1e-9) + 1
    _check_count(count, item)
    integer = all(isinstance(v, int) for v in (a, b, step))
    values = [a + i * step for i in range(count)] if integer else [_tidy(a + i * step) for i in range(count)]
    return ParamRange(values, a, b, log=False, integer=integer)


def _check_count(n: int, item: str) -> None:
    if n > MAX_COMBINATIONS:
        raise ScenarioError(f"--param {item!r}: {n} values, more than the cap of {MAX_COMBINATIONS}")


def parse_params(items: list[str]) -> dict[str, list[Any]]:
    """``['a.b=1,2', 'c=0:1:0.5', 'd=10:1000:3log']`` -> ``{'a.b': [1, 2], 'c': [0, 0.5, 1], ...}``.

    Ranges come back as :class:`ParamRange` (a list that remembers its interval). ScenarioError naming the
    item for a malformed item, a zero or negative step, a range that starts above its end, fewer than 2 log
    points, a non-positive log bound, or more than ``MAX_COMBINATIONS`` combinations in all."""
    params: dict[str, list[Any]] = {}
    total = 1
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise ScenarioError(f"--param {item!r}: expected PATH=V1,V2,..., PATH=A:B:STEP or PATH=A:B:NLOG, "
                                "e.g. cache.threshold=0.8,0.9")
        if ":" in raw and "," not in raw:
            values = _parse_range(raw, item)
        else:
            values = [_value(v) for v in raw.split(",")]
        total *= len(values)
        if total > MAX_COMBINATIONS:
            raise ScenarioError(f"--param {item!r}: the grid would have {total} combinations, more than the "
                                f"cap of {MAX_COMBINATIONS}")
        params[key.strip()] = values
    return params


def expand_grid(params: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(params)
    return [dict(zip(keys, values)) for values in itertools.product(*(params[k] for k in keys))]


def design_combos(params: dict[str, list[Any]], design: str = "factorial", samples: int | None = None,
                  seed: int = 0) -> list[dict[str, Any]]:
    """The combinations to run: the full factorial, or a Latin hypercube of ``samples`` points (seeded)."""
    if design not in DESIGNS:
        raise ScenarioError(f"--design: unknown {design!r}; use {' or '.join(DESIGNS)}")
    if design == "factorial":
        if samples is not None:
            raise ScenarioError("--samples: only with --design lhs")
        return expand_grid(params)
    if samples is None or samples < 1:
        raise ScenarioError(f"--samples: --design lhs needs a sample count of at least 1, got {samples}")
    if samples > MAX_COMBINATIONS:
        raise ScenarioError(f"--samples: {samples} is more than the cap of {MAX_COMBINATIONS}")
    from scipy.stats import qmc
    unit = qmc.LatinHypercube(d=len(params), seed=np.random.default_rng(seed)).random(samples)
    keys = list(params)
    return [{k: _from_unit(params[k], u) for k, u in zip(keys, point)} for point in unit]


def _from_unit(values: list[Any], u: float) -> Any:
    if isinstance(values, ParamRange):
        lo, hi = values.lo, values.hi
        x = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if values.log else lo + u * (hi - lo)
        return int(round(x)) if values.integer else _tidy(x)
    return values[min(int(u * len(values)), len(values) - 1)]


def run_one(scenario_yaml: str, overrides: dict[str, Any], seed: int | None, replication: int) -> dict:
    """One run: a top-level function of plain arguments so any executor can ship it."""
    from sim.model.run import simulate
    scenario = base_scenario(scenario_yaml).with_overrides(overrides)
    summary = simulate(scenario, seed=seed, replication=replication).summary
    row = {**overrides, "seed": summary.get("seed", seed), "replication": replication}
    row.update({k: v for k, v in summary.items() if isinstance(v, (int, float, bool, str)) or v is None})
    return row


@lru_cache(maxsize=8)
def base_scenario(scenario_yaml: str) -> Scenario:
    """The scenario of a job's YAML text, validated once per process (every job of a sweep ships the same
    text; ``with_overrides`` builds a new scenario from it, so the cached one is never changed)."""
    return validate_scenario(yaml.safe_load(scenario_yaml))


def warm_worker() -> None:
    """A pool worker's initializer: import the model once, before the first job, not inside it."""
    importlib.import_module("sim.model.run")


Job = tuple[str, dict, "int | None", int]
"""The arguments of :func:`run_one`: scenario YAML, overrides, seed, replication."""


def run_jobs(jobs: list[Job], executor: Executor | None = None,
             on_run: Callable[[int, int], None] | None = None, checkpoint=None) -> list[dict]:
    """Every job's row, in job order whatever the executor. With a checkpoint, saved runs are not run again
    and each new row is saved as soon as it is in; ``on_run(done, total)`` after each run (saved runs count
    as done from the start)."""
    rows = checkpoint.finished() if checkpoint is not None else {}
    todo = [i for i in range(len(jobs)) if i not in rows]
    done, total = len(rows), len(jobs)
    if on_run is not None and done:
        on_run(done, total)
    results = ((i, run_one(*jobs[i])) for i in todo) if executor is None else _submitted(executor, jobs, todo)
    for i, row in results:
        rows[i] = row
        if checkpoint is not None:
            checkpoint.save(i, row)
        done += 1
        if on_run is not None:
            on_run(done, total)
    return [rows[i] for i in range(len(jobs))]


def _submitted(executor: Executor, jobs: list[Job], todo: list[int]):
    """All jobs submitted at once, their rows yielded in job order."""
    futures = [(i, executor.submit(run_one, *jobs[i])) for i in todo]
    for i, future in futures:
        yield i, future.result()


SCHEDULER_TIMEOUT_S = 5
"""How long to wait for a Dask scheduler to answer before saying it cannot be reached."""


def check_workers(workers: int | None) -> int:
    """The worker count, defaulting to the CPU count; ScenarioError for zero or a negative count."""
    if workers is None:
        return os.cpu_count() or 1
    if workers < 1:
        raise ScenarioError(f"--workers: must be at least 1, got {workers} (leave it out for one per CPU)")
    return workers


def make_executor(kind: str, workers: int | None = None, scheduler: str | None = None):
    """A (executor, closer) pair for ``serial``, ``processes`` or ``dask``; argument errors are ScenarioErrors."""
    if kind not in ("serial", "processes", "dask"):
        raise ScenarioError(f"--executor: unknown {kind!r}; use serial, processes or dask")
    if scheduler and kind != "dask":
        raise ScenarioError("--scheduler: only with --executor dask")
    if workers is not None and kind == "serial":
        raise ScenarioError("--workers: only with --executor processes or dask")
    if kind == "serial":
        return None, lambda: None
    if scheduler and workers is not None:
        raise ScenarioError("--workers: a running scheduler (--scheduler) has its own workers")
    n_workers = check_workers(workers)
    if kind == "processes":
        warm_worker()                        # forked workers inherit the imported model
        pool = ProcessPoolExecutor(max_workers=n_workers, initializer=warm_worker)
        return pool, pool.shutdown
    return _dask_executor(n_workers, scheduler)


def _dask_executor(n_workers: int, scheduler: str | None):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ScenarioError("--executor dask needs the 'distributed' package "
                            "(pip install 'llm-traffic-sim[dask]')") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as err:
            raise ScenarioError(f"--scheduler {scheduler}: no Dask scheduler answered within "
                                f"{SCHEDULER_TIMEOUT_S} s ({type(err).__name__})") from None
        return client.get_executor(), client.close
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True)
    client = Client(cluster)

    def close():
        client.close()
        cluster.close()
    return client.get_executor(), close


def sweep(scenario: Scenario, params: dict[str, list[Any]], *, replications: int = 1, seed: int | None = None,
          executor: Executor | None = None, design: str = "factorial", samples: int | None = None,
          on_run: Callable[[int, int], None] | None = None, checkpoint=None) -> pd.DataFrame:
    """Run every combination of the design x replication; one row per run, in design order."""
    seed = scenario.seed if seed is None else seed
    combos = design_combos(params, design, samples, seed)
    for combo in combos:                          # fail on a bad value before running anything
        scenario.with_overrides(combo)
    text = scenario.to_yaml()
    jobs = [(text, combo, seed, rep) for combo in combos for rep in range(replications)]
    return pd.DataFrame(run_jobs(jobs, executor, on_run, checkpoint))


def numeric_metrics(runs: pd.DataFrame, params=()) -> list[str]:
    """The numeric summary metrics among the columns (not the parameters, the seed or the replication)."""
    skip = {*params, "seed", "replication", "variant"}
    return [c for c in runs.columns if c not in skip and pd.api.types.is_numeric_dtype(runs[c])
            and not pd.api.types.is_bool_dtype(runs[c])]


KNOWN_METRICS = (
    "requests_total", "requests_ok", "requests_failed", "requests_timeout", "requests_refused",
    "requests_rate_limited", "requests_shed", "requests_killed", "requests_too_large", "requests_context_exceeded",
    "availability",
    "calls_total", "rate_limited_calls", "error_rate", "latency_mean_s", "latency_p50_s", "latency_p95_s", "latency_p99_s",
    "ttft_p50_s", "ttft_p95_s", "queue_wait_mean_s", "queue_wait_p95_s", "cost_usd", "llm_cost_usd",
    "cost_per_request_usd", "projected_cost_per_month_usd", "mean_concurrency", "peak_concurrency",
    "mean_calls_in_flight", "attempts_per_request", "hallucination_rate", "parse_failure_rate",
    "quality_failure_rate", "strong_call_share", "input_tokens_total", "output_tokens_total", "user_patience_s",
    "requests_waited_over_patience", "cache_hit_rate", "false_hit_rate", "stale_rate", "cache_lookups",
    "cache_precision", "embedding_cost_usd", "requests_during_faults", "failed_during_faults",
    "breaker_transitions", "cooldowns", "calls_into_faults", "false_trips", "time_to_open_s", "time_to_recover_s", "degradation_detected_after_s",
    "spend_overshoot_usd", "spend_overshoot_bound_usd", "kill_switch_soft_after_s", "kill_switch_hard_after_s")
"""The numeric summary metrics of a run (sim/metrics.py; a test checks this list against a real run)."""


def default_metrics(scenario: Scenario) -> list[str]:
    """The metrics worth showing for this scenario: always availability, p95 latency and cost per request;
    then those of the features it has (faults, cache, breakers, kill switch)."""
    metrics = ["availability", "latency_p95_s", "cost_per_request_usd"]
    if scenario.faults:
        metrics += ["failed_during_faults"]
    if scenario.cache.enabled:
        metrics += ["cache_hit_rate", "false_hit_rate", "stale_rate"]
    if scenario.resilience.breaker is not None:
        metrics += ["false_trips", "time_to_open_s"]
    if scenario.resilience.kill_switch is not None:
        metrics += ["cost_usd", "requests_killed", "spend_overshoot_usd"]
    return metrics


def check_metrics(names: list[str], known: list[str]) -> list[str]:
    """``names`` if every one is a known metric; ScenarioError listing the known ones otherwise."""
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ScenarioError(f"--metrics: unknown {', '.join(unknown)}; known: {', '.join(known)}")
    return names


def parse_metrics(text: str | None) -> list[str] | None:
    return [m.strip() for m in text.split(",") if m.strip()] if text else None


def aggregate(runs: pd.DataFrame, params: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean and 95% confidence half-width (Student t over replications) of each metric per combination."""
    rows = []
    for key, group in runs.groupby(params, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(params, key))
        row["replications"] = len(group)
        for m in metrics:
            values = group[m].astype(float).dropna().to_numpy()
            row[m] = values.mean() if len(values) else math.nan
            row[f"{m}_ci95"] = ci_halfwidth(values)
        rows.append(row)
    return pd.DataFrame(rows)


def write_sweep(runs: pd.DataFrame, params: dict[str, list[Any]], out: Path, charts: bool = True,
                metrics=("availability", "latency_p95_s", "cost_per_request_usd", "failed_during_faults")) -> Path:
    """runs.parquet, summary.csv and summary.parquet (mean and CI of every numeric metric per combination)
    and one chart per parameter of the shown ``metrics``, written atomically."""
    with atomic_dir(out) as tmp:
        runs.to_parquet(tmp / "runs.parquet", index=False)
        summary = aggregate(runs, list(params), numeric_metrics(runs, params))
        summary.to_csv(tmp / "summary.csv", index=False)
        summary.to_parquet(tmp / "summary.parquet", index=False)
        if charts:
            from sim.report.plots import sweep_chart
            shown = [m for m in metrics if m in runs.columns]
            for name in params:
                others = [p for p in params if p != name]
                sweep_chart(runs, x=name, ys=shown, path=tmp / f"sweep_{name.replace('.', '_')}.png",
                            hue=others[0] if others else None)
    return out


def ci_halfwidth(values) -> float:
    """Half-width of the 95% Student-t confidence interval of the mean (NaN for fewer than 2 values)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return math.nan
    from scipy import stats
    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
