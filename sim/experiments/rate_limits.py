"""How much of a nominal rate limit a client gets, depending on how the provider enforces it.

The same key, the same published limits, the same Poisson traffic; only the enforcement changes: the bucket
holds a whole minute's quota, ten seconds' or one second's (``limits.enforcement_period_s``), and the model's
``requested_max_tokens`` is or is not reserved at admission (OpenAI's rule, ``limits.reserve_max_output``). Every
call is tried once and never smoothed, so a refusal is a 429 and what passes is the key's throughput.

Per run (after the warm-up; ``tpm`` is the provider's input+output tokens-per-minute limit):

* ``offered_share``: tokens per minute the traffic asked for (input + output of every call) over ``tpm``;
* ``admitted_share``: tokens per minute of the calls the key admitted (what they used, not what was
  reserved) over ``tpm``, the throughput as a share of the nominal limit;
* ``rate_limited_share``: the share of calls answered 429.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from sim.config import Scenario, validate_scenario
from sim.errors import ScenarioError
from sim.experiments.sweep import ci_halfwidth
from sim.report.tables import format_frame
from sim.results import atomic_dir

PERIOD = "providers.0.limits.enforcement_period_s"
MAX_OUTPUT = "providers.0.models.0.requested_max_tokens"
RATE = "workload.rate_per_s"
GRID = {PERIOD: [60, 10, 1], MAX_OUTPUT: [None, 1200, 4000], RATE: [1.5, 3.0, 4.5, 6.0]}
MEASURES = ("offered_share", "admitted_share", "rate_limited_share")


def enforcement_run(scenario_yaml: str, overrides: dict, seed: int | None, replication: int) -> dict:
    """One run's measures: a top-level function of plain arguments, so any executor can ship it."""
    from sim.model.run import simulate
    scenario = validate_scenario(yaml.safe_load(scenario_yaml)).with_overrides(overrides)
    tpm = scenario.providers[0].limits.per_minute(scenario.providers[0].api_keys)["tpm"]
    calls = simulate(scenario, seed=seed, replication=replication).calls
    calls = calls[calls.start_s >= scenario.warmup]
    minutes = (scenario.duration - scenario.warmup) / 60.0
    tokens = calls.input_tokens + calls.output_tokens
    refused = calls.status == "rate_limited"
    return {**overrides, "replication": replication, "calls": len(calls),
            "offered_share": float(tokens.sum() / minutes / tpm),
            "admitted_share": float(tokens[~refused].sum() / minutes / tpm),
            "rate_limited_share": float(refused.mean())}


def rate_limit_enforcement(scenario: Scenario, out: Path, replications: int = 3, executor=None, params=None,
                           **options) -> str:
    """Throughput and 429s for every enforcement period x requested_max_tokens x offered load, on common random
    numbers: runs.parquet, enforcement.csv (means and 95% CI half-widths over replications) and
    enforcement.png (admitted against offered tokens, and the 429 share, one panel per requested_max_tokens)."""
    grid = _grid(params)
    if not scenario.providers[0].limits.tokens_per_min:
        raise ScenarioError("rate_limit_enforcement: providers.0 needs limits.tokens_per_min (the combined TPM "
                            "limit the shares are measured against)")
    base = scenario.model_copy(update={"variants": {}}).to_yaml()
    seed = options.get("seed")
    jobs = [({PERIOD: p, MAX_OUTPUT: m, RATE: r}, rep) for p in grid[PERIOD] for m in grid[MAX_OUTPUT]
            for r in grid[RATE] for rep in range(replications)]
    if executor is None:
        rows = []
        for done, (overrides, rep) in enumerate(jobs, 1):
            rows.append(enforcement_run(base, overrides, seed, rep))
            if options.get("on_run"):
                options["on_run"](done, len(jobs))
    else:
        futures = [executor.submit(enforcement_run, base, overrides, seed, rep) for overrides, rep in jobs]
        rows = [f.result() for f in futures]
    runs = pd.DataFrame(rows)
    runs[MAX_OUTPUT] = [str(int(m)) if pd.notna(m) else "none" for m in runs[MAX_OUTPUT]]   # a label
    table = summarise(runs)
    with atomic_dir(out) as tmp:
        runs.to_parquet(tmp / "runs.parquet", index=False)
        table.to_csv(tmp / "enforcement.csv", index=False)
        if options.get("charts", True):
            from sim.report.rate_limit_charts import enforcement_chart
            enforcement_chart(table, tmp / "enforcement.png", period=PERIOD, max_output=MAX_OUTPUT,
                              title=f"{scenario.name}: the same {scenario.providers[0].limits.tokens_per_min:,.0f}"
                                    f" TPM limit, enforced three ways (one key, Poisson traffic, no retries)")
    shown = table.rename(columns={PERIOD: "period_s", MAX_OUTPUT: "requested_max_tokens", RATE: "rate_per_s"})
    return format_frame(shown[["period_s", "requested_max_tokens", "rate_per_s", "offered_share", "admitted_share",
                               "rate_limited_share"]])


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Means over replications, with 95% CI half-widths (``<measure>_ci95``), per setting."""
    keys = [PERIOD, MAX_OUTPUT, RATE]
    grouped = runs.groupby(keys, sort=False)
    table = grouped[list(MEASURES)].mean().reset_index()
    for measure in MEASURES:
        table[f"{measure}_ci95"] = [ci_halfwidth(group[measure]) for _, group in grouped]
    table["replications"] = grouped.size().to_numpy()
    return table


def _grid(params: dict[str, list] | None) -> dict[str, list]:
    unknown = [k for k in params or {} if k not in GRID]
    if unknown:
        raise ScenarioError(f"--param: {', '.join(unknown)} is not swept by this experiment; "
                            f"it sweeps {', '.join(GRID)}")
    return {**GRID, **(params or {})}
