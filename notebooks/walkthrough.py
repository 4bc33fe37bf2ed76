# %% [markdown]
# # A walkthrough of llm-traffic-sim
# A design-review question answered with numbers: *our primary provider goes down for 15 minutes at peak;
# what do retries buy, and what do a circuit breaker and a fallback buy?* Run top to bottom
# (`.venv/bin/python notebooks/walkthrough.py`), or open it as a notebook (percent format).

# %%
from pathlib import Path

import sim

scenario = sim.load_scenario(sim.example_scenario("outage_replay"), ["duration=50m", "warmup=0s"])
print(scenario.description)
print("variants:", ", ".join(scenario.variants))

# %% [markdown]
# ## 1. Before simulating: the closed form
# Cost, peak load and the keys the primary needs, by Little's law and plain arithmetic.

# %%
print(sim.format_estimate(sim.estimate_scenario(scenario)))

# %% [markdown]
# ## 2. One run: frames and a summary
# Every request is a row of `requests`, every provider attempt a row of `calls`; `timeseries` has one row
# per minute and `events` every state change (the outage, breaker transitions) as typed columns: select
# rows by `kind`, `to_state` or `reason`; `detail` is the same in a sentence, for people.

# %%
result = sim.simulate(scenario.variant("breaker_fallback_2keys"), seed=1)
print(result.requests[["arrival_s", "outcome", "latency_s", "provider", "cost_usd"]].head())
events = result.events[result.events.kind.isin(["fault_start", "fault_end", "breaker"])]
print(events[["time_s", "kind", "subject", "from_state", "to_state", "reason", "value", "limit",
              "fault_kind"]].head(6).to_string())
print({k: round(result.summary[k], 4) for k in ("availability", "latency_p95_s", "time_to_open_s",
                                                 "time_to_recover_s", "cost_usd")})

# %% [markdown]
# ## 3. Two designs on the same traffic and the same outage
# The same seed gives both variants the same arrivals, tokens and first-attempt draws (common random
# numbers), so the difference below is the design's.

# %%
for name in ("no_resilience", "breaker_fallback_2keys"):
    s = sim.simulate(scenario.variant(name), seed=1).summary
    print(f"{name:<24} availability {s['availability']:.2%}  failed during the outage "
          f"{s['failed_during_faults']:>5}  p95 {s['latency_p95_s']:.1f} s  cost ${s['cost_usd']:.2f}")

# %% [markdown]
# ## 4. Save it
# Parquet frames, `summary.json`, the resolved `scenario.yaml` and charts, written atomically, to
# `results/walkthrough/` (or to the folder named by the environment variable `WALKTHROUGH_OUT`).

# %%
import os

out = result.save(Path(os.environ.get("WALKTHROUGH_OUT") or sim.EXPERIMENTS_DIR.parent / "results" / "walkthrough"),
                  charts=False)
print("saved to", out)
