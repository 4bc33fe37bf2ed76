"""Sweeps: the full factorial of some parameter values, each combination run (and replicated) once.

``--param resilience.breaker.failure_rate_threshold=0.3,0.5,0.7 --param resilience.breaker.wait_in_open_s=10,30``
makes 3 x 2 = 6 combinations; with ``replications=R`` each runs R times on the replication streams
0..R-1 of the seed, and every combination sees the same R sets of random numbers (common random numbers,
so differences between combinations are the parameters', not the dice's). Each run is one row of ``runs``:
its parameters, seed, replication and every summary metric. ``aggregate`` adds means and 95% confidence
intervals over the replications.

Runs are independent, so they go through a ``concurrent.futures``-style executor: in this process
(``serial``), local processes (``processes``), or a Dask distributed cluster (``dask``, with the optional
``distributed`` package: ``Client(address).get_executor()``). The same seed gives the same rows whichever
executor runs them.
"""
from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sim.config import Scenario, validate_scenario
from sim.errors import ScenarioError
from sim.results import atomic_dir
from sim.scenario_file import load_yaml_text


def parse_params(items: list[str]) -> dict[str, list[Any]]:
    """``['a.b=1,2', 'c=x']`` -> ``{'a.b': [1, 2], 'c': ['x']}`` (values read as YAML scalars)."""
    params: dict[str, list[Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise ScenarioError(f"--param {item!r}: expected PATH=V1,V2,..., e.g. cache.threshold=0.8,0.9")
        params[key.strip()] = [load_yaml_text(v) for v in raw.split(",")]
    return params


def expand_grid(params: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(params)
    return [dict(zip(keys, values)) for values in itertools.product(*(params[k] for k in keys))]


def run_one(scenario_yaml: str, overrides: dict[str, Any], seed: int, replication: int) -> dict:
    """One run of the grid; a top-level function of plain arguments so any executor can ship it."""
    from sim.model.run import simulate
    scenario = validate_scenario(yaml.safe_load(scenario_yaml)).with_overrides(overrides)
    summary = simulate(scenario, seed=seed, replication=replication).summary
    row = {**overrides, "seed": seed, "replication": replication}
    row.update({k: v for k, v in summary.items() if isinstance(v, (int, float, bool, str)) or v is None})
    return row


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
        pool = ProcessPoolExecutor(max_workers=n_workers)
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
          executor: Executor | None = None) -> pd.DataFrame:
    """Run every combination x replication; one row per run, in grid order whatever the executor."""
    seed = scenario.seed if seed is None else seed
    grid = expand_grid(params)
    for combo in grid:                          # fail on a bad value before running anything
        scenario.with_overrides(combo)
    text = scenario.to_yaml()
    jobs = [(combo, rep) for combo in grid for rep in range(replications)]
    if executor is None:
        rows = [run_one(text, combo, seed, rep) for combo, rep in jobs]
    else:
        futures = [executor.submit(run_one, text, combo, seed, rep) for combo, rep in jobs]
        rows = [f.result() for f in futures]
    return pd.DataFrame(rows)


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
    """runs.parquet, summary.csv (means and CIs) and one chart per parameter, written atomically."""
    with atomic_dir(out) as tmp:
        runs.to_parquet(tmp / "runs.parquet", index=False)
        shown = [m for m in metrics if m in runs.columns]
        aggregate(runs, list(params), shown).to_csv(tmp / "summary.csv", index=False)
        if charts:
            from sim.report.plots import sweep_chart
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
