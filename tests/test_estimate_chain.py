"""``estimate`` checks every target of the fallback chain alone against the whole peak, by hand arithmetic.

The scenario: 2 requests/s, flat, 1,000 input + 200 output tokens per call, one call per request. At peak one
provider must take 2 x 60 = 120 requests, 120,000 input, 24,000 output and 144,000 combined tokens a minute.

* alpha (1 key: 100 RPM, 200,000 input TPM): 120 / 100 = 120% of RPM, 60% of input TPM -> RPM binds, it
  cannot carry the peak, 2 keys needed;
* beta (2 keys of 90,000 combined TPM): 144,000 / 180,000 = 80% -> TPM binds, it carries the peak
  (2 keys needed per key's limit, 2 held);
* gamma (no limits): nothing binds, it carries everything.
"""
import json

import pytest
import yaml

from sim.cli import main
from sim.config import validate_scenario
from sim.errors import ScenarioError
from sim.estimate import check_limits
from sim.experiments.scenario_estimate import estimate_from_scenario

SCENARIO = {
    "name": "chain", "seed": 1, "duration": "10m",
    "workload": {"rate_per_s": 2.0, "profile": {"type": "flat"},
                 "input_tokens": {"type": "fixed", "value": 1000}, "output_tokens": {"type": "fixed", "value": 200}},
    "providers": [
        {"name": "alpha", "limits": {"requests_per_min": 100, "input_tokens_per_min": 200_000},
         "models": [{"name": "m1", "input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0}]},
        {"name": "beta", "api_keys": 2, "limits": {"tokens_per_min": 90_000},
         "models": [{"name": "m2", "input_usd_per_mtok": 2.5, "output_usd_per_mtok": 10.0}]},
        {"name": "gamma", "models": [{"name": "m3", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 1.0}]},
    ],
    "routing": {"chain": ["alpha/m1", "beta/m2", "gamma/m3"]},
    "resilience": {"fallback": True},
}


@pytest.fixture(scope="module")
def checks():
    return estimate_from_scenario(validate_scenario(SCENARIO)).chain_checks


def test_every_chain_target_is_checked_in_order(checks):
    assert [c.target for c in checks] == ["alpha/m1", "beta/m2", "gamma/m3"]


def test_the_primary_is_bound_by_requests_and_cannot_carry_the_peak(checks):
    alpha = checks[0]
    assert alpha.utilisation == pytest.approx({"requests_per_min": 1.2, "input_tokens_per_min": 0.6})
    assert alpha.binding_limit == "requests_per_min"
    assert (alpha.keys_needed, alpha.api_keys, alpha.carries_peak_alone) == (2, 1, False)
    # 172,800 calls a day: 172.8 M input tokens x $3 + 34.56 M output tokens x $15
    assert alpha.cost_per_day_usd == pytest.approx(172.8 * 3 + 34.56 * 15)


def test_the_fallback_with_two_keys_carries_it_on_combined_tokens(checks):
    beta = checks[1]
    assert beta.utilisation == pytest.approx({"tokens_per_min": 144_000 / 180_000})
    assert beta.binding_limit == "tokens_per_min"
    assert (beta.keys_needed, beta.carries_peak_alone) == (2, True)


def test_a_target_without_limits_carries_everything(checks):
    gamma = checks[2]
    assert (gamma.utilisation, gamma.binding_limit, gamma.keys_needed, gamma.carries_peak_alone) == ({}, None, 1, True)


def test_check_limits_by_hand_and_its_errors():
    need = {"requests_per_min": 120, "input_tokens_per_min": 120_000, "output_tokens_per_min": 24_000,
            "tokens_per_min": 144_000}
    # 24,000 output tokens against 8,000 OTPM: 3 keys; with 3 keys exactly 100%, which still carries
    c = check_limits(need, {"requests_per_min": 50, "input_tokens_per_min": 30_000,
                            "output_tokens_per_min": 8_000}, api_keys=3)
    assert c.binding_limit == "input_tokens_per_min" and c.keys_needed == 4 and not c.carries_peak_alone
    c = check_limits(need, {"output_tokens_per_min": 8_000}, api_keys=3)
    assert c.utilisation == {"output_tokens_per_min": 1.0} and c.carries_peak_alone
    with pytest.raises(ScenarioError, match="api_keys: must be a whole number >= 1"):
        check_limits(need, {"requests_per_min": 50}, api_keys=0)


def test_the_command_says_it_plainly(tmp_path, capsys):
    path = tmp_path / "chain.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    assert main(["estimate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Primary alpha/m1: RPM binds at 120%; CANNOT carry the peak (2 keys needed, 1 held)." in out
    assert "Fallback beta/m2 alone: TPM binds at 80%; carries the peak." in out
    assert "Fallback gamma/m3 alone: no limit set, carries the peak." in out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert main(["estimate", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["carries_peak_alone"] for c in data["chain_checks"]] == [False, True, True]


def test_estimate_from_flags_against_a_tier_preset(capsys):
    # 10,000 DAU x 15 = 150,000 a day, x3 at peak = 312.5 calls a minute: 625,000 input and 93,750 output
    # tokens a minute against Tier 2 Sonnet 4's 1,000 RPM / 450,000 ITPM / 90,000 OTPM
    assert main(["estimate", "--dau", "10000", "--requests-per-user-per-day", "15", "--input-tokens", "2000",
                 "--output-tokens", "300", "--limits", "anthropic-tier2-sonnet4", "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    assert est["limit_utilisation"] == pytest.approx({"requests_per_min": 312.5 / 1000,
                                                      "input_tokens_per_min": 625_000 / 450_000,
                                                      "output_tokens_per_min": 93_750 / 90_000})
    assert (est["binding_limit"], est["keys_needed"]) == ("input_tokens_per_min", 2)
    assert main(["estimate", "--dau", "1", "--requests-per-user-per-day", "1", "--limits", "anthropic-custom"]) == 2
    assert "publishes no value for requests_per_min" in capsys.readouterr().err
