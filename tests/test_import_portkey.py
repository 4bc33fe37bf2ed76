"""The Portkey importer: where every supported setting lands, what is listed as ignored, that no secret is ever
written, that bad input names the setting, and that the example config imports into a scenario that runs
with the traffic split and the fallback the config describes."""
import json
import math
import re

import pytest

import sim
from sim.cli import main
from sim.config import validate_scenario
from sim.importers import IMPORT_MARKER, ImportOptions, ImportProblem, format_import, scenario_yaml
from sim.importers.portkey import catalogue_id, import_config
from sim.importers.portkey_settings import PORTKEY_CACHE_MAX_AGE_S
from tests.conftest import EXPERIMENTS, ROOT

EXAMPLE = EXPERIMENTS / "gateways" / "portkey_config.json"
EXAMPLE_SCENARIO = EXPERIMENTS / "gateways" / "portkey_scenario.yaml"


def leaf(key, model="gpt-4o", **more):
    return {"virtual_key": key, "override_params": {"model": model}, **more}


def imported(config, **options):
    result = import_config(config, "test.json", ImportOptions(**options))
    validate_scenario(result.scenario)                  # every mapping must give a scenario run accepts
    return result


def scenario(config, **options):
    return imported(config, **options).scenario


def mapped_to(result, setting):
    return [m.to for m in result.mapped if m.setting == setting]


# --------------------------------------------------------------------------------------------- strategies

def test_a_single_target_is_one_deployment_and_the_chain():
    s = scenario(leaf("openai-prod"))
    assert [p["name"] for p in s["providers"]] == ["openai-prod"]
    assert s["providers"][0]["models"][0] == {"name": "gpt-4o", "catalogue": "gpt-4o"}
    assert s["routing"]["chain"] == ["openai-prod/gpt-4o"]
    assert "fallback" not in s["resilience"]


def test_fallback_is_the_chain_in_target_order():
    s = scenario({"strategy": {"mode": "fallback"},
                  "targets": [leaf("a", "gpt-4o"), leaf("b", "claude-sonnet-4"), leaf("c", "gpt-4o-mini")]})
    assert s["routing"]["chain"] == ["a/gpt-4o", "b/claude-sonnet-4", "c/gpt-4o-mini"]
    assert s["resilience"]["fallback"] is True


def test_loadbalance_is_a_group_with_the_weights_in_order_and_portkeys_default_weight_of_1():
    s = scenario({"strategy": {"mode": "loadbalance"},
                  "targets": [leaf("east", weight=0.7), leaf("west"), leaf("oai", weight=0.3)]})
    group = s["routing"]["groups"]["gpt-4o"]
    assert group["deployments"] == ["east/gpt-4o", "west/gpt-4o", "oai/gpt-4o"]
    assert group["weights"] == [0.7, 1.0, 0.3]
    assert group["load_balancing"] == {"strategy": "portkey-loadbalance"}
    assert s["routing"]["chain"] == ["gpt-4o"]


def test_a_nested_loadbalance_is_folded_in_with_multiplied_shares():
    inner = {"strategy": {"mode": "loadbalance"}, "targets": [leaf("b", weight=1), leaf("c", weight=3)]}
    s = scenario({"strategy": {"mode": "loadbalance"}, "targets": [leaf("a", weight=1), {**inner, "weight": 1}]})
    group = s["routing"]["groups"]["gpt-4o"]
    assert group["deployments"] == ["a/gpt-4o", "b/gpt-4o", "c/gpt-4o"]
    assert group["weights"] == pytest.approx([0.5, 0.5 * 0.25, 0.5 * 0.75])


def test_a_fallback_inside_a_loadbalance_puts_its_primary_in_the_group_and_the_rest_after_it():
    inner = {"strategy": {"mode": "fallback"}, "targets": [leaf("b"), leaf("anthropic", "claude-sonnet-4")]}
    result = imported({"strategy": {"mode": "loadbalance"}, "targets": [leaf("a"), inner]})
    s = result.scenario
    assert s["routing"]["groups"]["gpt-4o"]["deployments"] == ["a/gpt-4o", "b/gpt-4o"]
    assert s["routing"]["chain"] == ["gpt-4o", "anthropic/claude-sonnet-4"]
    assert any("approximation" in m.note for m in result.mapped if m.setting == "targets[1]")


def test_nested_fallbacks_flatten_and_their_codes_are_mapped_or_listed():
    inner = {"strategy": {"mode": "fallback", "on_status_codes": [503]}, "targets": [leaf("b"), leaf("c")]}
    result = imported({"strategy": {"mode": "fallback", "on_status_codes": [429]}, "targets": [leaf("a"), inner]})
    assert result.scenario["routing"]["chain"] == ["a/gpt-4o", "b/gpt-4o", "c/gpt-4o"]
    assert result.scenario["resilience"]["fallback_on"] == ["rate_limited"]
    assert mapped_to(result, "targets[1].strategy.mode") == ["routing.chain"]
    assert "targets[1].strategy.on_status_codes" in [i.setting for i in result.ignored]


def test_inherited_request_parameters_are_listed_once():
    result = imported({"strategy": {"mode": "loadbalance"}, "override_params": {"temperature": 0.1},
                       "targets": [leaf("a"), leaf("b")]})
    assert [i.setting for i in result.ignored].count("override_params.temperature") == 1


def test_single_calls_the_first_target_and_lists_the_others():
    result = imported({"strategy": {"mode": "single"}, "targets": [leaf("a"), leaf("b")]})
    assert result.scenario["routing"]["chain"] == ["a/gpt-4o"]
    assert "targets[1]" in [i.setting for i in result.ignored]


def test_conditional_sends_everything_to_the_default_target_and_lists_the_conditions():
    config = {"strategy": {"mode": "conditional", "default": "cheap",
                           "conditions": [{"query": {"metadata.tier": {"$eq": "pro"}}, "then": "strong"}]},
              "targets": [{**leaf("s"), "name": "strong"}, {**leaf("c", "gpt-4o-mini"), "name": "cheap"}]}
    result = imported(config)
    assert result.scenario["routing"]["chain"] == ["c/gpt-4o-mini"]
    ignored = [i.setting for i in result.ignored]
    assert "strategy.conditions" in ignored and "targets[0]" in ignored


# --------------------------------------------------------------------------------------------- status codes

@pytest.mark.parametrize("codes, statuses", [
    ([429], ["rate_limited"]),
    ([500, 502, 503, 504], ["error"]),
    ([408], ["timeout"]),
    ([400], ["context_exceeded"]),
    ([413], ["too_large"]),
    ([429, 503, 408], ["error", "timeout", "rate_limited"]),
])
def test_fallback_status_codes_land_in_fallback_on(codes, statuses):
    s = scenario({"strategy": {"mode": "fallback", "on_status_codes": codes},
                  "targets": [leaf("a"), leaf("b", "claude-sonnet-4")]})
    assert s["resilience"]["fallback_on"] == statuses
    assert ("content_policy_fallbacks" in s["routing"]) == (400 in codes)


def test_codes_without_a_simulated_counterpart_are_named_in_the_mapping():
    result = imported({"strategy": {"mode": "fallback", "on_status_codes": [401, 429]},
                       "targets": [leaf("a"), leaf("b", "claude-sonnet-4")]})
    note = next(m.note for m in result.mapped if m.setting == "strategy.on_status_codes")
    assert "401" in note.split("no simulated counterpart")[1]


def test_a_fallback_without_codes_moves_on_after_every_failure_and_refusal():
    s = scenario({"strategy": {"mode": "fallback"}, "targets": [leaf("a"), leaf("b", "claude-sonnet-4")]})
    assert s["resilience"]["fallback_on"] == ["error", "timeout", "rate_limited", "context_exceeded", "too_large"]
    assert s["routing"]["content_policy_fallbacks"] == ["b/claude-sonnet-4"]


# --------------------------------------------------------------------------------------------- retry

@pytest.mark.parametrize("attempts", [0, 1, 3, 5])
def test_retry_attempts_are_retries_after_the_first_call(attempts):
    retry = scenario({**leaf("a"), "retry": {"attempts": attempts}})["resilience"]["retry"]
    assert retry["max_attempts"] == attempts + 1


def test_retry_uses_portkeys_default_codes_and_backoff():
    retry = scenario({**leaf("a"), "retry": {"attempts": 4}})["resilience"]["retry"]
    assert retry["retry_on"] == ["error", "rate_limited"]           # 429, 500, 502, 503, 504; not 408
    # async-retry with minTimeout 1000 ms, factor 2, randomize false: waits 1, 2, 4, 8 s
    waits = [min(retry["max_delay_s"], retry["base_delay_s"] * retry["multiplier"] ** k) for k in range(4)]
    assert waits == [1.0, 2.0, 4.0, 8.0] and retry["jitter"] == "none"
    assert retry["honor_retry_after"] is False and retry["max_retry_after_s"] == 60.0


def test_retry_status_codes_and_retry_after():
    retry = scenario({**leaf("a"), "retry": {"attempts": 2, "on_status_codes": [408, 429],
                                             "use_retry_after_header": True}})["resilience"]["retry"]
    assert retry["retry_on"] == ["timeout", "rate_limited"] and retry["honor_retry_after"] is True


def test_no_retry_in_the_config_is_one_attempt_not_the_simulators_default():
    result = imported(leaf("a"))
    assert result.scenario["resilience"]["retry"]["max_attempts"] == 1
    assert any("one attempt" in n for n in result.notes)


def test_a_target_with_its_own_different_retry_is_listed():
    result = imported({"strategy": {"mode": "fallback"}, "retry": {"attempts": 3},
                       "targets": [leaf("a"), {**leaf("b", "claude-sonnet-4"), "retry": {"attempts": 1}}]})
    assert result.scenario["resilience"]["retry"]["max_attempts"] == 4          # the primary's
    assert "targets[1].retry" in [i.setting for i in result.ignored]


# --------------------------------------------------------------------------------------------- cache, timeouts

def test_semantic_cache_with_max_age():
    cache = scenario({**leaf("a"), "cache": {"mode": "semantic", "max_age": 600}})["cache"]
    assert cache["enabled"] is True and cache["ttl_s"] == 600.0 and cache["threshold"] == 0.95


def test_simple_cache_is_an_exact_match_for_portkeys_default_age():
    cache = scenario({**leaf("a"), "cache": {"mode": "simple"}})["cache"]
    assert cache["threshold"] > 0.999 and cache["embedding_usd_per_mtok"] == 0.0
    assert cache["ttl_s"] == PORTKEY_CACHE_MAX_AGE_S == 7 * 86400


def test_request_timeout_is_inherited_and_overridden_per_target():
    """Portkey's docs example: a strategy-level 10 s timeout, one target overriding it with 2 s."""
    s = scenario({"strategy": {"mode": "fallback"}, "request_timeout": 10000,
                  "targets": [leaf("a"), {**leaf("b", "claude-sonnet-4"), "request_timeout": 2000}]})
    assert [p["models"][0]["timeout_s"] for p in s["providers"]] == [10.0, 2.0]


def test_override_params_max_tokens_and_region():
    s = scenario({**leaf("a"), "override_params": {"model": "gpt-4o", "max_tokens": 512}, "aws_region": "us-east-1"})
    assert s["providers"][0]["models"][0]["requested_max_tokens"] == 512
    assert s["providers"][0]["region"] == "us-east-1"


def test_circuit_breaker_count_rule_is_a_cooldown():
    s = scenario({"strategy": {"mode": "fallback", "cb_config": {"failure_threshold": 5, "cooldown_interval": 30000,
                                                                 "failure_status_codes": [429, 500]}},
                  "targets": [leaf("a"), leaf("b", "claude-sonnet-4")]})
    breaker = s["resilience"]["breaker"]
    assert breaker["mode"] == "cooldown" and breaker["cooldown_failures"] == 6     # "exceeds 5"
    assert breaker["cooldown_s"] == 30.0 and breaker["record_rate_limited"] is True


def test_circuit_breaker_cooldown_has_portkeys_floor_of_30_s():
    s = scenario({"strategy": {"mode": "fallback", "cb_config": {"failure_threshold": 1, "cooldown_interval": 5000}},
                  "targets": [leaf("a"), leaf("b", "claude-sonnet-4")]})
    assert s["resilience"]["breaker"]["cooldown_s"] == 30.0


def test_circuit_breaker_rate_rule():
    s = scenario({"strategy": {"mode": "fallback", "cb_config": {"failure_threshold_percentage": 20,
                                                                 "minimum_requests": 10, "cooldown_interval": 60000}},
                  "targets": [leaf("a"), leaf("b", "claude-sonnet-4")]})
    breaker = s["resilience"]["breaker"]
    assert breaker["failure_rate_threshold"] == 0.2 and breaker["minimum_calls"] == 10
    assert breaker["wait_in_open_s"] == 60.0 and breaker["record_rate_limited"] is False


@pytest.mark.parametrize("written, catalogue", [
    ("gpt-4o", "gpt-4o"), ("gpt-4o-2024-08-06", "gpt-4o"), ("@openai-prod/gpt-4o", "gpt-4o"),
    ("azure/gpt-4o-mini", "gpt-4o-mini"), ("claude-sonnet-4-20250514", "claude-sonnet-4"),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"), ("claude-sonnet-4@20250514", "claude-sonnet-4"),
    ("llama-3-70b", None)])
def test_model_ids_map_to_the_catalogue(written, catalogue):
    assert catalogue_id(written) == catalogue


def test_a_catalog_slug_names_the_deployment_and_model_without_one_takes_model_option():
    s = scenario({"strategy": {"mode": "fallback"},
                  "targets": [{"override_params": {"model": "@openai-prod/gpt-4o"}}, {"provider": "anthropic",
                                                                                      "api_key": "x"}]},
                 model="claude-sonnet-4")
    assert s["routing"]["chain"] == ["openai-prod/gpt-4o", "anthropic-2/claude-sonnet-4"]


# --------------------------------------------------------------------------------------------- ignored, secrets

def test_every_unknown_or_unmodelled_key_is_listed():
    config = {"strategy": {"mode": "fallback", "flavour": 1}, "custom_host": "http://llm.internal",
              "mystery": True, "retry": {"attempts": 1, "jitter": "lots"}, "cache": {"mode": "simple", "size": 3},
              "targets": [{**leaf("a"), "forward_headers": ["x-user"], "on_status_codes": [500]},
                          {**leaf("b"), "weight": 2}]}
    ignored = {i.setting for i in imported(config).ignored}
    assert {"strategy.flavour", "custom_host", "mystery", "retry.jitter", "cache.size", "targets[0].forward_headers",
            "targets[0].on_status_codes", "targets[1].weight"} <= ignored


def key_paths(node, path=""):
    """Every setting of a config as Portkey spells its path: targets[1].override_params.model."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from key_paths(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list) and path.endswith("targets"):
        for i, value in enumerate(node):
            yield from key_paths(value, f"{path}[{i}]")
    else:
        yield path


def covered(path, settings):
    for setting in settings:
        pattern = re.escape(setting).replace(r"\[\*\]", r"\[\d+\]")
        if re.fullmatch(pattern + r"([.\[].*)?", path):
            return True
    return False


EVERYTHING = {
    "strategy": {"mode": "fallback", "on_status_codes": [429, 503],
                 "cb_config": {"failure_threshold": 3, "cooldown_interval": 40000, "failure_status_codes": [503]}},
    "retry": {"attempts": 2, "on_status_codes": [429], "use_retry_after_header": False},
    "cache": {"mode": "simple", "max_age": 120}, "request_timeout": 20000, "custom_host": "http://x",
    "override_params": {"temperature": 0.3}, "input_guardrails": ["pii"], "surprise": {"a": 1},
    "targets": [
        {"strategy": {"mode": "loadbalance"}, "targets": [
            {"provider": "azure-openai", "api_key": "k", "azure_model_name": "gpt-4o", "weight": 2},
            {"strategy": {"mode": "loadbalance"}, "weight": 1,
             "targets": [leaf("x", weight=1), leaf("y", weight=1, forward_headers=["a"])]}]},
        {"strategy": {"mode": "conditional", "default": "cheap", "conditions": [{"query": {}, "then": "cheap"}]},
         "targets": [{**leaf("c", "gpt-4o-mini"), "name": "cheap"}, {**leaf("d"), "name": "other"}]},
        {"provider": "bedrock", "aws_region": "us-east-1", "aws_access_key_id": "A", "aws_secret_access_key": "B",
         "retry": {"attempts": 0}, "override_params": {"model": "us.anthropic.claude-sonnet-4-20250514-v1:0",
                                                       "max_tokens": 800, "top_p": 0.9}},
    ],
}


@pytest.mark.parametrize("config", [EVERYTHING, json.loads(EXAMPLE.read_text())], ids=["everything", "example"])
def test_every_setting_of_the_config_is_mapped_or_ignored(config):
    result = imported(config)
    settings = [m.setting for m in result.mapped] + [i.setting for i in result.ignored]
    missing = [p for p in key_paths(config) if not covered(p, settings)]
    assert not missing, missing


SECRETS = {"provider": "openai", "api_key": "sk-live-abc123", "aws_secret_access_key": "os.environ/AWS_SECRET",
           "aws_access_key_id": "AKIAEXAMPLE", "override_params": {"model": "gpt-4o"}}


def test_secrets_and_environment_references_are_never_written_or_printed():
    result = imported({"strategy": {"mode": "fallback"},
                       "targets": [SECRETS, {"virtual_key": "os.environ/PORTKEY_VK",
                                             "override_params": {"model": "claude-sonnet-4"}}]})
    text = scenario_yaml(result) + format_import(result) + repr(result)
    for secret in ("sk-live-abc123", "AWS_SECRET", "AKIAEXAMPLE", "PORTKEY_VK"):    # the header names os.environ/
        assert secret not in text
    assert {"targets[0].api_key", "targets[0].aws_secret_access_key"} <= {i.setting for i in result.ignored}


@pytest.mark.parametrize("config, named", [
    ({"strategy": {"mode": "roundrobin"}, "targets": [leaf("a")]}, "strategy.mode"),
    ({"strategy": {"mode": "loadbalance"}, "targets": [leaf("a"), leaf("b", weight="heavy")]}, "targets[1].weight"),
    ({"strategy": {"mode": "loadbalance"}, "targets": [leaf("a", weight=0)]}, "targets"),
    ({"strategy": {"mode": "fallback"}, "targets": []}, "targets"),
    ({**leaf("a"), "retry": {"attempts": "3"}}, "retry.attempts"),
    ({**leaf("a"), "retry": {"attempts": 2, "on_status_codes": "429"}}, "retry.on_status_codes"),
    ({**leaf("a"), "cache": {"mode": "fuzzy"}}, "cache.mode"),
    ({**leaf("a"), "request_timeout": "10s"}, "request_timeout"),
    ({"strategy": {"mode": "fallback"}, "targets": [leaf("a"), {"virtual_key": "b"}]}, "targets[1]"),
    ({"strategy": {"mode": "fallback"}, "targets": [leaf("a"), leaf("b", "llama-3-70b")]},
     "targets[1].override_params.model"),
    ({"strategy": {"mode": "fallback", "cb_config": {"failure_threshold": 3}}, "targets": [leaf("a")]},
     "strategy.cb_config.cooldown_interval"),
])
def test_bad_input_names_the_setting(config, named):
    with pytest.raises(ImportProblem) as err:
        import_config(config, "test.json", ImportOptions())
    assert str(err.value).startswith(named), str(err.value)


# --------------------------------------------------------------------------------------------- the example runs

def example_run(faults=(), minutes=10, seed=4):
    result = import_config(json.loads(EXAMPLE.read_text()), str(EXAMPLE), ImportOptions(
        workload={"rate_per_s": 3.0, "profile": {"type": "flat"}, "input_tokens": {"type": "fixed", "value": 500},
                  "output_tokens": {"type": "fixed", "value": 150}}, duration_s=minutes * 60.0))
    data = result.scenario
    data["cache"]["enabled"] = False          # every request reaches the providers
    data["faults"] = list(faults)
    data["output"] = {"charts": False}
    return sim.simulate(validate_scenario(data), seed=seed)


def test_the_example_splits_the_group_by_its_weights():
    """Each attempt into the gpt-4o group goes to a deployment with probability 0.5 / 0.3 / 0.2, independently:
    every share within 4 binomial standard deviations."""
    calls = example_run().calls
    providers = calls["provider"].astype(str)
    in_group = providers[providers != "anthropic-prod"]
    n = len(in_group)
    assert n > 1500
    for name, weight in (("azure-gpt4o-eastus", 0.5), ("azure-gpt4o-westeurope", 0.3), ("openai-prod", 0.2)):
        share = (in_group == name).mean()
        assert abs(share - weight) < 4 * math.sqrt(weight * (1 - weight) / n), (name, share)


def test_the_example_falls_back_to_anthropic_while_every_gpt4o_deployment_is_down():
    outage = {"kind": "outage", "targets": ["azure-gpt4o-eastus", "azure-gpt4o-westeurope", "openai-prod"],
              "start": "3m", "duration": "4m"}
    result = example_run([outage])
    calls, requests = result.calls, result.requests
    anthropic = calls[calls["provider"].astype(str) == "anthropic-prod"]
    during = anthropic[(anthropic["start_s"] >= 190) & (anthropic["start_s"] < 410)]
    before = anthropic[anthropic["start_s"] < 170]
    assert len(during) > 0.9 * 3.0 * 220 * 0.9      # about every request of the outage reached the fallback
    assert len(before) < 0.02 * 3.0 * 170           # only the rare 5xx (error_rate 0.2%) before it
    ok_during = requests[(requests["arrival_s"] >= 190) & (requests["arrival_s"] < 400)]
    assert (ok_during["outcome"].astype(str) == "ok").mean() > 0.97


# --------------------------------------------------------------------------------------------- the command

def test_the_committed_example_scenario_is_what_import_writes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "portkey_scenario.yaml"
    assert main(["import", "portkey", "experiments/gateways/portkey_config.json", "-o", str(out)]) == 0
    assert out.read_text() == EXAMPLE_SCENARIO.read_text()
    printed = capsys.readouterr().out
    assert "ignored 2:" in printed and "before_request_hooks" in printed
    assert "targets[1].override_params.temperature = 0.2:" in printed          # a scalar shown as written
    sim.load_scenario(EXAMPLE_SCENARIO)


def test_the_command_refuses_a_foreign_file_without_force(tmp_path, capsys):
    out = tmp_path / "mine.yaml"
    out.write_text("name: mine\n")
    assert main(["import", "portkey", str(EXAMPLE), "-o", str(out)]) != 0
    assert "--force" in capsys.readouterr().err and out.read_text() == "name: mine\n"
    assert main(["import", "portkey", str(EXAMPLE), "-o", str(out), "--force"]) == 0
    assert out.read_text().startswith(IMPORT_MARKER)
    assert main(["import", "portkey", str(EXAMPLE), "-o", str(out)]) == 0       # its own file: replaced


def test_the_command_names_the_setting_of_a_bad_config(tmp_path, capsys):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"retry": {"attempts": -1}, **leaf("a")}))
    assert main(["import", "portkey", str(config)]) != 0
    err = capsys.readouterr().err
    assert "retry.attempts" in err and "Traceback" not in err


def test_the_command_writes_and_prints_no_secret(tmp_path, capsys):
    config = tmp_path / "secrets.json"
    config.write_text(json.dumps({"strategy": {"mode": "fallback"}, "targets": [
        SECRETS, {"virtual_key": "os.environ/PORTKEY_VK", "api_key": "os.environ/OPENAI_API_KEY",
                  "override_params": {"model": "claude-sonnet-4"}}]}))
    out = tmp_path / "scenario.yaml"
    assert main(["import", "portkey", str(config), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    text = out.read_text() + captured.out + captured.err
    for secret in ("sk-live-abc123", "os.environ/AWS_SECRET", "AKIAEXAMPLE", "os.environ/PORTKEY_VK",
                   "os.environ/OPENAI_API_KEY"):
        assert secret not in text
    assert "api_key" in captured.out                  # listed as ignored, without its value


def test_the_command_takes_the_workload_and_duration_of_a_scenario(tmp_path, capsys):
    workload = tmp_path / "workload.yaml"
    workload.write_text("name: w\nduration: 2h\nworkload: {rate_per_s: 7.5, profile: {type: flat}}\n"
                        "providers: [{name: p, models: [{name: m, input_usd_per_mtok: 1, output_usd_per_mtok: 1}]}]\n")
    out = tmp_path / "scenario.yaml"
    assert main(["import", "portkey", str(EXAMPLE), "-o", str(out), "--workload", str(workload)]) == 0
    loaded = sim.load_scenario(out)
    assert loaded.duration == 7200.0 and loaded.workload.rate_per_s == 7.5
    assert "placeholder" not in out.read_text() and str(workload) in capsys.readouterr().out
