"""llm-traffic-sim: a discrete-event simulator of a production LLM application's traffic path.

    import sim
    scenario = sim.load_scenario("experiments/demo.yaml")
    result = sim.simulate(scenario, seed=1)
    result.summary["latency_p95_s"], result.requests.head()
"""
from sim.config import Scenario, load_scenario
from sim.errors import ScenarioError


def simulate(scenario, seed=None, replication=0):
    """Run a scenario once (see :func:`sim.model.run.simulate`)."""
    from sim.model.run import simulate as _simulate
    return _simulate(scenario, seed=seed, replication=replication)


__all__ = ["Scenario", "ScenarioError", "load_scenario", "simulate"]
