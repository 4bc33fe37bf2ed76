"""Which failures move a request down the chain, and the lists of their own that a rejection for the context
window and a refusal move to (LiteLLM's ``context_window_fallbacks`` and ``content_policy_fallbacks``,
Portkey's fallback ``on_status_codes``)."""
import numpy as np
import pytest

import sim
from tests.conftest import small_scenario

GAMMA = {"name": "gamma", "models": [{"name": "m3", "input_usd_per_mtok": 0.15, "output_usd_per_mtok": 0.6,
                                      "error_rate": 0.0}]}
STORM = [{"kind": "rate_limit", "targets": ["alpha"], "start": "5m", "duration": "10m", "share": 1.0}]


def three_providers(**more):
    base = small_scenario(duration="20m")
    data = base.model_dump(mode="json")
    data["providers"].append(GAMMA)
    data["routing"]["chain"] = ["alpha/m1", "beta/m2"]
    data["providers"][0]["models"][0]["error_rate"] = 0.0
    data["providers"][1]["models"][0]["error_rate"] = 0.0
    return sim.config.validate_scenario(data).with_overrides(more) if more else sim.config.validate_scenario(data)


def _served_by(result, provider):
    calls = result.calls
    return int(((calls["provider"].astype(str) == provider) & (calls["status"].astype(str) == "ok")).sum())


@pytest.mark.parametrize("retries, path", [(1, "callback"), (3, "callback"), (3, "generator")])
def test_a_429_moves_on_only_when_fallback_on_lists_it(retries, path):
    common = {"faults": STORM, "resilience.fallback": True, "resilience.retry.max_attempts": retries,
              "resilience.retry.max_retry_after_s": 0}
    if path == "generator":          # a list of its own for refusals (none here) takes the generator path
        common["routing.content_policy_fallbacks"] = ["gamma/m3"]
    moves = sim.simulate(three_providers(**common), seed=4)
    stays = sim.simulate(three_providers(**common, **{"resilience.fallback_on": ["error", "timeout"]}), seed=4)
    in_storm = lambda r: r.requests[(r.requests["arrival_s"] >= 310) & (r.requests["arrival_s"] < 890)]  # noqa: E731
    assert (in_storm(moves)["outcome"].astype(str) == "ok").mean() > 0.99
    assert _served_by(moves, "beta") > 400
    assert (in_storm(stays)["outcome"].astype(str) == "ok").mean() == 0.0
    assert not ((stays.calls["provider"].astype(str) == "beta")
                & (stays.calls["start_s"] >= 310) & (stays.calls["start_s"] < 890)).any()


def test_an_error_still_moves_on_when_only_429s_are_excluded():
    outage = [{**STORM[0], "kind": "outage", "share": None}]
    result = sim.simulate(three_providers(faults=outage, **{"resilience.fallback": True,
                                                              "resilience.fallback_on": ["error"]}), seed=4)
    assert result.summary["availability"] > 0.99 and _served_by(result, "beta") > 400


def test_a_context_window_rejection_goes_to_its_own_list_not_down_the_chain():
    """alpha's window is too small for every request: with context_window_fallbacks [gamma] each request is
    answered by gamma and beta is never asked; without it, by beta (the chain's next)."""
    small_window = {"providers.0.models.0.context_window_tokens": 800, "resilience.fallback": True}
    own = sim.simulate(three_providers(**small_window, **{"routing.context_window_fallbacks": ["gamma/m3"]}),
                       seed=4)
    chain = sim.simulate(three_providers(**small_window), seed=4)
    n = len(own.requests)
    assert _served_by(own, "gamma") == n and _served_by(own, "beta") == 0
    assert _served_by(chain, "beta") == n and _served_by(chain, "gamma") == 0
    # the same rejection without fallback: the list applies all the same (LiteLLM's lists are their own)
    alone = sim.simulate(three_providers(**{"providers.0.models.0.context_window_tokens": 800,
                                            "routing.context_window_fallbacks": ["gamma/m3"]}), seed=4)
    assert _served_by(alone, "gamma") == len(alone.requests)


def test_a_refusal_is_final_unless_content_policy_fallbacks_names_where_to_go():
    refusing = {"providers.0.models.0.refusal_rate": 0.2, "resilience.fallback": True}
    final = sim.simulate(three_providers(**refusing), seed=4)
    redirected = sim.simulate(three_providers(**refusing, **{"routing.content_policy_fallbacks": ["gamma/m3"]}),
                              seed=4)
    refused = int((final.requests["outcome"].astype(str) == "refused").sum())
    assert refused > 100 and _served_by(final, "gamma") == 0
    assert (redirected.requests["outcome"].astype(str) == "refused").sum() == 0
    # the same requests were refused by alpha in both runs (alpha's draws are the same), and gamma answered them
    assert _served_by(redirected, "gamma") == refused
    np.testing.assert_array_equal(final.requests["arrival_s"], redirected.requests["arrival_s"])


def test_unknown_entries_and_statuses_are_named():
    with pytest.raises(sim.ScenarioError, match=r"routing.context_window_fallbacks: unknown target or group 'nope/x'"):
        three_providers(**{"routing.context_window_fallbacks": ["nope/x"]})
    with pytest.raises(sim.ScenarioError, match=r"resilience.fallback_on"):
        three_providers(**{"resilience.fallback_on": ["refused"]})
