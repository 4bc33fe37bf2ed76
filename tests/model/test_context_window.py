"""A call larger than the model's context window, or asking for more output than its maximum.

The provider answers 400 "context length exceeded" at once: one attempt with status ``context_exceeded``,
no cost, no retry, nothing taken from the rate limits; with fallback a model with a larger window may answer.
"""
import numpy as np
import pytest

import sim
from sim.errors import ScenarioError
from sim.provider_catalogue import load_catalogue
from tests.conftest import small_scenario

LOGNORMAL_PROMPTS = {"type": "lognormal", "median": 1500, "p95": 6000}


@pytest.mark.parametrize("max_attempts", [1, 3])
def test_exactly_the_calls_over_the_window_are_rejected_once_and_never_billed(max_attempts):
    window = 4000
    scenario = small_scenario(**{"duration": "20m", "workload.input_tokens": LOGNORMAL_PROMPTS,
                                 "providers.0.models.0.context_window_tokens": window,
                                 "providers.0.models.0.error_rate": 0.0,
                                 "resilience.retry.max_attempts": max_attempts})
    r = sim.simulate(scenario)
    calls = r.calls
    over = (calls.input_tokens + calls.output_tokens > window).to_numpy()   # computed here, not by the model
    rejected = (calls.status == "context_exceeded").to_numpy()
    assert over.any() and (~over).any()
    assert np.array_equal(rejected, over)
    assert (calls.duration_s[rejected] == 0).all() and (calls.cost_usd[rejected] == 0).all()
    assert (calls[rejected].groupby("request_id").size() == 1).all()          # never retried
    assert (r.requests.outcome == "context_exceeded").sum() == rejected.sum()
    assert r.summary["requests_context_exceeded"] == rejected.sum()
    assert sum(r.summary[f"requests_{o}"] for o in sim.record.OUTCOMES) == r.summary["requests_total"]


def test_asking_for_more_output_than_the_maximum_is_rejected_and_fallback_answers():
    # every call asks for 200 output tokens; alpha allows 150, beta has no limit
    scenario = small_scenario(**{"duration": "10m", "providers.0.models.0.max_output_tokens": 150,
                                 "providers.1.models.0.error_rate": 0.0, "resilience.fallback": True,
                                 "routing.chain": ["alpha/m1", "beta/m2"]})
    r = sim.simulate(scenario)
    assert (r.requests.outcome == "ok").all() and (r.requests.provider == "beta").all()
    assert set(r.calls[r.calls.provider == "alpha"].status.astype(str)) == {"context_exceeded"}
    assert set(r.calls[r.calls.provider == "beta"].status.astype(str)) == {"ok"}


def test_a_rejected_call_takes_nothing_from_the_rate_limits():
    # 1,200 tokens a call against a 1,000-token window: all rejected. Were they charged to a 2-request-a-minute
    # key, the window's rejections would show as 429s once the key ran dry; none do.
    scenario = small_scenario(**{"duration": "10m", "providers.0.models.0.context_window_tokens": 1000,
                                 "providers.0.limits.requests_per_min": 2,
                                 "gateway.smooth_to_provider_limits": False})
    r = sim.simulate(scenario)
    assert set(r.calls.status.astype(str)) == {"context_exceeded"}


def test_the_model_config_carries_the_limits_and_validates_them():
    scenario = small_scenario(**{"providers.0.models.0.context_window_tokens": 8000,
                                 "providers.0.models.0.max_output_tokens": 2000})
    model = scenario.providers[0].models[0]
    assert (model.context_window_tokens, model.max_output_tokens) == (8000, 2000)
    assert small_scenario().providers[0].models[0].context_window_tokens is None     # default: no limit
    with pytest.raises(ScenarioError, match=r"max_output_tokens \(9000\) exceeds context_window_tokens \(8000\)"):
        small_scenario(**{"providers.0.models.0.context_window_tokens": 8000,
                          "providers.0.models.0.max_output_tokens": 9000})
    with pytest.raises(ScenarioError, match="context_window_tokens"):
        small_scenario(**{"providers.0.models.0.context_window_tokens": 0})


@pytest.mark.parametrize("name", load_catalogue().model_names())
def test_a_catalogue_model_fills_its_window_and_maximum_output(name):
    entry = load_catalogue().model(name)
    scenario = small_scenario(**{"providers.0.models.0": {"name": "m1", "catalogue": name}})
    model = scenario.providers[0].models[0]
    assert model.context_window_tokens == entry["context_window_tokens"]
    assert model.max_output_tokens == entry["max_output_tokens"]


def test_a_preset_with_negotiated_limits_must_be_completed_by_the_scenario():
    with pytest.raises(ScenarioError, match=r"providers\.0\.limits: preset 'anthropic-custom' publishes no value "
                                            r"for input_tokens_per_min, output_tokens_per_min"):
        small_scenario(**{"providers.0.limits": {"preset": "anthropic-custom", "requests_per_min": 8000}})
    done = small_scenario(**{"providers.0.limits": {"preset": "anthropic-custom", "requests_per_min": 8000,
                                                    "input_tokens_per_min": 4e6, "output_tokens_per_min": 8e5}})
    assert done.providers[0].limits.input_tokens_per_min == 4e6
