"""The LiteLLM proxy importer: where every supported setting lands (expected values from LiteLLM's documented
semantics, not from the importer), every other key listed as ignored, no secret anywhere, bad input named,
and the example config importing into a scenario that runs as the config says."""
import copy
import math

import pytest
import yaml

import sim
from sim.cli import main
from sim.config import validate_scenario
from sim.importers import IMPORT_MARKER, ImportOptions, ImportProblem, format_import, read_gateway_config, scenario_yaml
from sim.importers.litellm import catalogue_id, import_config
from tests.conftest import ROOT

EXAMPLE = ROOT / "experiments" / "gateways" / "litellm_config.yaml"
EXAMPLE_SCENARIO = ROOT / "experiments" / "gateways" / "litellm_scenario.yaml"
EXAMPLE_SOURCE = "experiments/gateways/litellm_config.yaml"      # as the README's command names it


SECRET = "sk-live-abc123"


def deployment(name="gpt-4o", model="openai/gpt-4o", **params):
    return {"model_name": name, "litellm_params": {"model": model, **params}}


def config(*deployments, router=None, litellm=None, **top):
    data = {"model_list": list(deployments) or [deployment()]}
    if router is not None:
        data["router_settings"] = router
    if litellm is not None:
        data["litellm_settings"] = litellm
    return {**data, **top}


def imported(data, **options):
    result = import_config(data, "config.yaml", ImportOptions(**options))
    validate_scenario(result.scenario)                  # every import is a valid scenario
    return result


def scenario(data, **options):
    return imported(data, **options).scenario


def two_groups(**router):
    return config(deployment("gpt-4o"), deployment("claude", "anthropic/claude-sonnet-4-20250514"),
                  deployment("mini", "openai/gpt-4.1-mini"), router=router)


# --------------------------------------------------------------------------------------------- deployments

@pytest.mark.parametrize("params, path, expected", [
    ({"rpm": 600}, ("limits", "requests_per_min"), 600),
    ({"tpm": 90000}, ("limits", "tokens_per_min"), 90000),
    ({"max_parallel_requests": 12}, ("max_concurrency",), 12),
    ({"timeout": 45}, ("models", 0, "timeout_s"), 45.0),
    ({"region_name": "eastus"}, ("region",), "eastus"),
    ({"aws_region_name": "us-west-2"}, ("region",), "us-west-2"),
    ({"vertex_location": "europe-west4"}, ("region",), "europe-west4"),
])
def test_a_deployment_setting_lands_on_its_provider_section(params, path, expected):
    node = scenario(config(deployment(**params)))["providers"][0]
    for key in path:
        node = node[key]
    assert node == expected


def test_rpm_and_tpm_beside_litellm_params_count_too():
    entry = {**deployment(), "rpm": 300, "tpm": 50000}
    assert scenario(config(entry))["providers"][0]["limits"] == {
        "requests_per_min": 300, "tokens_per_min": 50000, "enforcement_period_s": 1.0, "reserve_max_output": True}


def test_each_deployment_is_one_provider_named_by_its_id_and_each_model_name_one_group():
    data = config({**deployment(model="azure/prod-4o"), "model_info": {"id": "east", "base_model": "azure/gpt-4o"}},
                  deployment(), deployment("claude", "anthropic/claude-sonnet-4-20250514"))
    s = scenario(data)
    assert [p["name"] for p in s["providers"]] == ["east", "gpt-4o-2", "claude-1"]
    assert s["routing"]["groups"]["gpt-4o"]["deployments"] == ["east/gpt-4o", "gpt-4o-2/gpt-4o"]
    assert s["routing"]["groups"]["claude"]["deployments"] == ["claude-1/claude-sonnet-4"]
    assert s["providers"][0]["models"][0]["catalogue"] == "gpt-4o"        # from base_model, not the Azure name


@pytest.mark.parametrize("model, expected", [
    ("azure/gpt-4o", "gpt-4o"), ("openai/gpt-4o-2024-08-06", "gpt-4o"), ("gpt-4o-mini", "gpt-4o-mini"),
    ("bedrock/anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
    ("bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
    ("anthropic/claude-sonnet-4-20250514", "claude-sonnet-4"), ("vertex_ai/claude-opus-4@20250514", "claude-opus-4"),
    ("anthropic/claude-3-5-haiku-20241022", "claude-haiku-3.5"), ("gemini/gemini-2.5-flash", "gemini-2.5-flash"),
])
def test_catalogue_ids_follow_litellm_model_names(model, expected):
    assert catalogue_id(model) == expected


@pytest.mark.parametrize("section", ["litellm_params", "model_info"])
def test_prices_per_token_become_usd_per_million(section):
    entry = deployment(model="openai/my-finetune")
    entry.setdefault(section, {}).update({"input_cost_per_token": 0.000002, "output_cost_per_token": 0.000008})
    model = scenario(config(entry))["providers"][0]["models"][0]
    assert model["input_usd_per_mtok"] == pytest.approx(2.0) and model["output_usd_per_mtok"] == pytest.approx(8.0)
    assert "catalogue" not in model


def test_a_weight_becomes_the_groups_weights_and_a_deployment_without_one_weighs_zero():
    s = scenario(config(deployment(weight=3), deployment(weight=1), deployment()))
    assert s["routing"]["groups"]["gpt-4o"]["weights"] == [3.0, 1.0, 0.0]


# --------------------------------------------------------------------------------------------- router settings

@pytest.mark.parametrize("litellm_name, ours", [
    ("simple-shuffle", "simple-shuffle"), ("least-busy", "least-busy"), ("latency-based-routing", "latency-based-routing"),
    ("usage-based-routing-v2", "usage-based-routing-v2"), ("usage-based-routing", "usage-based-routing-v2"),
    ("cost-based-routing", "simple-shuffle"),
])
def test_routing_strategy_sets_every_groups_strategy(litellm_name, ours):
    s = scenario(two_groups(routing_strategy=litellm_name))
    assert {g["load_balancing"]["strategy"] for g in s["routing"]["groups"].values()} == {ours}


@pytest.mark.parametrize("router, litellm, attempts", [
    (None, None, 3),                                   # LiteLLM's default: 2 retries (openai's DEFAULT_MAX_RETRIES)
    ({"num_retries": 0}, None, 1),
    ({"num_retries": 4}, None, 5),
    (None, {"num_retries": 1}, 2),                     # litellm.num_retries when the router has none
    ({"num_retries": 3}, {"num_retries": 1}, 4),       # the router's argument wins
])
def test_num_retries_is_max_attempts_minus_one(router, litellm, attempts):
    s = scenario(config(router=router, litellm=litellm))
    assert s["resilience"]["retry"]["max_attempts"] == attempts


@pytest.mark.parametrize("retry_after, base, cap", [(None, 0.5, 8.0), (0, 0.5, 8.0), (2, 2.0, 8.0), (15, 15.0, 15.0)])
def test_a_lone_deployment_backs_off_as_litellm_with_retry_after_as_the_floor(retry_after, base, cap):
    router = {} if retry_after is None else {"retry_after": retry_after}
    retry = scenario(config(router=router))["resilience"]["retry"]
    assert (retry["base_delay_s"], retry["max_delay_s"], retry["multiplier"]) == (base, cap, 2.0)
    assert retry["honor_retry_after"] is True and retry["max_retry_after_s"] == 60.0


@pytest.mark.parametrize("retry_after", [None, 5])
def test_a_group_of_several_deployments_retries_at_once(retry_after):
    """_time_to_sleep_before_retry: no wait while another deployment of the group is healthy."""
    router = {} if retry_after is None else {"retry_after": retry_after}
    retry = scenario(config(deployment(), deployment(), router=router))["resilience"]["retry"]
    assert (retry["base_delay_s"], retry["max_delay_s"], retry["honor_retry_after"]) == (0.0, 0.0, False)


@pytest.mark.parametrize("router, expected", [
    ({}, {"cooldown_s": 5.0}),
    ({"cooldown_time": 30}, {"cooldown_s": 30.0}),
    ({"allowed_fails": 3}, {"cooldown_s": 5.0}),                        # LiteLLM's default = not set
    ({"allowed_fails": 1}, {"cooldown_s": 5.0, "allowed_fails": 1}),
    ({"disable_cooldowns": True}, {"cooldown_s": 5.0, "disable_cooldowns": True}),
    ({"allowed_fails_policy": {"RateLimitErrorAllowedFails": 10, "TimeoutErrorAllowedFails": 2,
                               "AuthenticationErrorAllowedFails": 0, "InternalServerErrorAllowedFails": 4}},
     {"cooldown_s": 5.0, "allowed_fails_rate_limit": 10, "allowed_fails_timeout": 2,
      "allowed_fails_authentication": 0, "allowed_fails_internal_server": 4}),
    ({"routing_strategy_args": {"lowest_latency_buffer": 0.5, "max_latency_list_size": 20, "ttl": 600}},
     {"cooldown_s": 5.0, "lowest_latency_buffer": 0.5, "max_latency_list_size": 20, "latency_ttl_s": 600.0}),
])
def test_cooldown_settings_land_in_every_groups_load_balancing(router, expected):
    for group in scenario(two_groups(**router))["routing"]["groups"].values():
        assert group["load_balancing"] == expected


def test_fallbacks_make_the_chain_of_the_traffics_group():
    s = scenario(two_groups(fallbacks=[{"mini": ["gpt-4o"]}, {"claude": ["mini"]}]))
    assert s["routing"]["chain"] == ["claude", "mini"]     # the first model name (in model_list) with fallbacks
    assert s["resilience"]["fallback"] is True
    s = scenario(two_groups(fallbacks=[{"claude": ["mini"]}, {"gpt-4o": ["claude", "mini"]}]))
    assert s["routing"]["chain"] == ["gpt-4o", "claude", "mini"]
    s = scenario(two_groups(fallbacks=[{"claude": ["mini"]}, {"gpt-4o": ["claude", "mini"]}]), model="claude")
    assert s["routing"]["chain"] == ["claude", "mini"]


def test_without_fallbacks_the_traffic_asks_for_the_first_model_name_and_never_falls_back():
    s = scenario(two_groups())
    assert s["routing"]["chain"] == ["gpt-4o"] and s["resilience"]["fallback"] is False
    assert set(s["routing"]["groups"]) == {"gpt-4o", "claude", "mini"}           # unreachable groups written


@pytest.mark.parametrize("router", [{"fallbacks": [{"*": ["mini"]}]}, {"default_fallbacks": ["mini"]}])
def test_generic_fallbacks_apply_to_a_group_without_its_own(router):
    assert scenario(two_groups(**router))["routing"]["chain"] == ["gpt-4o", "mini"]


def test_context_window_fallbacks():
    """Not set: such an error goes to the generic fallbacks. Set with an entry for the group: that list. Set
    without one: the error is final (Router.async_function_with_fallbacks)."""
    unset = scenario(two_groups(fallbacks=[{"gpt-4o": ["claude"]}]))
    assert unset["routing"]["context_window_fallbacks"] == []
    assert "context_exceeded" in unset["resilience"]["fallback_on"]
    own = scenario(two_groups(fallbacks=[{"gpt-4o": ["claude"]}], context_window_fallbacks=[{"gpt-4o": ["mini"]}]))
    assert own["routing"]["context_window_fallbacks"] == ["mini"]
    other = scenario(two_groups(fallbacks=[{"gpt-4o": ["claude"]}], context_window_fallbacks=[{"claude": ["mini"]}]))
    assert other["routing"]["context_window_fallbacks"] == []
    assert "context_exceeded" not in other["resilience"]["fallback_on"]
    assert set(other["resilience"]["fallback_on"]) == {"error", "timeout", "rate_limited", "too_large"}


def test_content_policy_fallbacks():
    """Not set: a refusal goes to the generic fallbacks; set without an entry for the group: final."""
    unset = scenario(two_groups(fallbacks=[{"gpt-4o": ["claude"]}]))
    assert unset["routing"]["content_policy_fallbacks"] == ["claude"]
    own = scenario(two_groups(fallbacks=[{"gpt-4o": ["claude"]}], content_policy_fallbacks=[{"gpt-4o": ["mini"]}]))
    assert own["routing"]["content_policy_fallbacks"] == ["mini"]
    other = scenario(two_groups(content_policy_fallbacks=[{"claude": ["gpt-4o"]}]))
    assert other["routing"]["content_policy_fallbacks"] == []


@pytest.mark.parametrize("router, litellm, params, timeout_s", [
    (None, None, {}, 6000.0),                          # litellm.request_timeout
    ({"timeout": 30}, None, {}, 30.0),
    (None, {"request_timeout": 120}, {}, 120.0),
    ({"timeout": 30}, {"request_timeout": 120}, {}, 30.0),
    ({"timeout": 30}, None, {"timeout": 10}, 10.0),   # the deployment's own
])
def test_timeouts_are_each_calls_timeout(router, litellm, params, timeout_s):
    s = scenario(config(deployment(**params), router=router, litellm=litellm))
    assert s["providers"][0]["models"][0]["timeout_s"] == timeout_s
    assert s["gateway"] == {"smooth_to_provider_limits": False}   # the client's deadline stays the simulator's


def test_fallbacks_in_litellm_settings_count_and_router_settings_win():
    data = two_groups()
    data["litellm_settings"] = {"fallbacks": [{"gpt-4o": ["mini"]}]}
    assert scenario(data)["routing"]["chain"] == ["gpt-4o", "mini"]
    data["router_settings"] = {"fallbacks": [{"gpt-4o": ["claude"]}]}
    result = imported(data)
    assert result.scenario["routing"]["chain"] == ["gpt-4o", "claude"]
    assert any(m.setting == "litellm_settings.fallbacks" and "takes precedence" in m.note for m in result.mapped)


def test_model_names_with_slashes_become_group_names_and_fallbacks_follow():
    data = config(deployment("openai/gpt-4o"), deployment("anthropic/claude", "anthropic/claude-sonnet-4"),
                  router={"fallbacks": [{"openai/gpt-4o": ["anthropic/claude"]}]})
    s = scenario(data)
    assert s["routing"]["chain"] == ["openai-gpt-4o", "anthropic-claude"]


def test_duplicate_or_secret_looking_ids_get_names_of_their_own():
    data = config({**deployment(), "model_info": {"id": "east"}}, {**deployment(), "model_info": {"id": "east"}},
                  {**deployment(), "model_info": {"id": SECRET}})
    names = [p["name"] for p in scenario(data)["providers"]]
    assert names == ["east", "east-2", "gpt-4o-3"]


def test_a_workload_scenario_gives_the_traffic_and_the_duration(tmp_path, capsys):
    out = tmp_path / "scenario.yaml"
    workload = ROOT / "experiments" / "demo.yaml"
    assert main(["import", "litellm", str(EXAMPLE), "-o", str(out), "--workload", str(workload)]) == 0
    imported_scenario, demo = sim.load_scenario(out), sim.load_scenario(workload)
    assert imported_scenario.workload == demo.workload and imported_scenario.duration == demo.duration
    assert f"workload and duration ({demo.duration:g} s) from {workload}" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------- litellm_settings

@pytest.mark.parametrize("params, expected", [
    ({"type": "redis-semantic", "similarity_threshold": 0.85, "ttl": 600}, {"threshold": 0.85, "ttl_s": 600.0}),
    ({"type": "qdrant-semantic", "similarity_threshold": 0.9}, {"threshold": 0.9}),
    ({"type": "redis"}, {"threshold": 0.9999}),
    ({}, {"threshold": 0.9999}),                       # the proxy's default type is redis (exact)
    ({"type": "local", "ttl": 60}, {"threshold": 0.9999, "ttl_s": 60.0}),
    ({"type": "gcs"}, {"threshold": 0.9999}),         # any other backend is an exact-match cache
])
def test_the_cache(params, expected):
    s = scenario(config(litellm={"cache": True, "cache_params": params}))
    assert s["cache"] == {"enabled": True, **expected}


def test_a_cache_that_is_off_lists_its_parameters_as_ignored():
    result = imported(config(litellm={"cache": False, "cache_params": {"type": "redis", "ttl": 5}}))
    assert "cache" not in result.scenario
    assert {"litellm_settings.cache_params.type", "litellm_settings.cache_params.ttl"} <= {
        i.setting for i in result.ignored}


def test_an_exact_cache_hits_only_verbatim_repeats():
    """threshold 0.9999: a repeated query (cosine 1 up to rounding) hits, a paraphrase (median 0.84) does not."""
    from tests.conftest import small_scenario
    base = small_scenario(duration="20m", **{"cache.enabled": True, "cache.threshold": 0.9999,
                                             "workload.n_intents": 50})
    result = sim.simulate(base, seed=3)
    repeats = base.cache.similarity.repeat_share
    assert 0.5 * repeats < result.summary["cache_hit_rate"] <= repeats + 0.05
    assert result.summary["false_hit_rate"] == 0.0


@pytest.mark.parametrize("budget, duration, expected", [
    (500, "1d", {"per_day_usd": 500.0}),
    (20, "1h", {"per_hour_usd": 20.0}),
    (70, "7d", {"per_month_usd": 70.0}),               # a week's budget: the 30-day window holds it whole
    (5, "30m", {"per_hour_usd": 10.0}),                # under an hour: scaled up to the hour
    (40, "12h", {"per_day_usd": 40.0}),
    (3000, "30d", {"per_month_usd": 3000.0}),
    (3000, "1mo", {"per_month_usd": 3000.0}),
    (100, None, {"per_month_usd": 100.0}),             # never resets: a total over any simulated window
])
def test_max_budget_is_the_kill_switch(budget, duration, expected):
    litellm = {"max_budget": budget, **({"budget_duration": duration} if duration else {})}
    assert scenario(config(litellm=litellm))["resilience"]["kill_switch"] == {**expected, "soft_fraction": 1.0}


# --------------------------------------------------------------------------------------------- what is not mapped

UNSUPPORTED = {
    "general_settings": {"master_key": "sk-1234", "alerting": ["slack"]},
    "environment_variables": {"REDIS_HOST": "redis.internal"},
    "guardrails": [{"guardrail_name": "pii"}],
    "some_future_section": {"x": 1},
    "router_settings": {"redis_host": "os.environ/REDIS_HOST", "enable_pre_call_checks": True, "shiny_new": 2,
                        "allowed_fails_policy": {"BadRequestErrorAllowedFails": 1}},
    "litellm_settings": {"success_callback": ["langfuse"], "drop_params": True, "mystery": "x",
                         "cache_params": {"type": "redis", "namespace": "prod"}, "cache": True},
}


def test_every_unsupported_key_is_listed_as_ignored_with_a_reason():
    data = {"model_list": [{**deployment(api_base="https://x", api_version="2024", custom_header="h", order=1),
                            "model_info": {"id": "a", "mode": "chat"}, "extra_field": 1}], **UNSUPPORTED}
    ignored = {i.setting: i for i in imported(data).ignored}
    expected = {"general_settings.master_key", "general_settings.alerting", "environment_variables.REDIS_HOST",
                "guardrails", "some_future_section.x", "router_settings.redis_host",
                "router_settings.enable_pre_call_checks", "router_settings.shiny_new",
                "router_settings.allowed_fails_policy.BadRequestErrorAllowedFails",
                "litellm_settings.success_callback", "litellm_settings.drop_params", "litellm_settings.mystery",
                "litellm_settings.cache_params.namespace", "model_list[0].litellm_params.api_base",
                "model_list[0].litellm_params.api_version", "model_list[0].litellm_params.custom_header",
                "model_list[0].litellm_params.order", "model_list[0].model_info.mode", "model_list[0].extra_field"}
    assert expected <= set(ignored)
    assert all(i.reason for i in ignored.values())
    assert ignored["environment_variables.REDIS_HOST"].value is None          # never shown
    assert ignored["litellm_settings.drop_params"].value == "true"


def _settings_of(data: dict) -> set[str]:
    """Every setting of a LiteLLM config as the importer names them (sections' keys, deployments' params)."""
    names = set()
    for i, entry in enumerate(data["model_list"]):
        names |= {f"model_list[{i}].{k}" for k in entry if k not in ("litellm_params", "model_info")}
        for section in ("litellm_params", "model_info"):
            names |= {f"model_list[{i}].{section}.{k}" for k in entry.get(section, {})}
    for top, values in data.items():
        if top == "model_list":
            continue
        for key, value in values.items():
            if isinstance(value, dict) and key in ("allowed_fails_policy", "cache_params", "routing_strategy_args"):
                names |= {f"{top}.{key}.{k}" for k in value}
            else:
                names.add(f"{top}.{key}")
    return names


def test_every_setting_of_the_example_is_mapped_or_ignored():
    data = read_gateway_config(EXAMPLE)
    result = imported(data)
    covered = {m.setting for m in result.mapped} | {i.setting for i in result.ignored}
    # a deployment's model is mapped through its base_model when it has one
    through_base = {f"model_list[{i}].litellm_params.model" for i, e in enumerate(data["model_list"])
                    if "base_model" in e.get("model_info", {})}
    missing = _settings_of(data) - covered - through_base
    assert not missing, sorted(missing)


def test_secrets_and_environment_references_never_appear(tmp_path, capsys):
    data = config({**deployment(api_key=SECRET, aws_secret_access_key="os.environ/AWS_SECRET"),
                   "model_info": {"id": "a"}},
                  router={"redis_password": SECRET, "redis_url": f"redis://user:{SECRET}@host:6379"},
                  litellm={"some_new_token_setting": SECRET, "harmless_name": SECRET},
                  general_settings={"master_key": "os.environ/LITELLM_MASTER_KEY", "database_url": SECRET},
                  environment_variables={"OPENAI_API_KEY": SECRET, "PLAIN": "os.environ/X"})
    result = imported(data)
    texts = [scenario_yaml(result), format_import(result), yaml.safe_dump(result.scenario)]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "scenario.yaml"
    assert main(["import", "litellm", str(path), "-o", str(out)]) == 0
    texts += [capsys.readouterr().out, out.read_text()]
    for text in texts:
        assert SECRET not in text and "abc123" not in text
        assert "os.environ" not in text.replace("os.environ/ references are never copied", "")


# --------------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("data, message", [
    ({"router_settings": {}}, "model_list: missing"),
    ({"model_list": {"a": 1}}, "model_list: expected a list"),
    ({"model_list": [{"litellm_params": {"model": "openai/gpt-4o"}}]}, "model_list[0].model_name"),
    ({"model_list": [{"model_name": "x"}]}, "model_list[0].litellm_params: expected a mapping"),
    (config(deployment(rpm="lots")), "model_list[0].litellm_params.rpm: expected a number, got 'lots'"),
    (config(deployment(rpm=True)), "model_list[0].litellm_params.rpm: expected a number"),
    (config(deployment(timeout=-1)), "model_list[0].litellm_params.timeout: must be at least"),
    (config(deployment(model="azure/my-deployment")), "model_list[0]: model 'azure/my-deployment'"),
    (config(router={"routing_strategy": "fastest"}), "router_settings.routing_strategy: unknown strategy 'fastest'"),
    (config(router={"fallbacks": {"gpt-4o": "x"}}), "router_settings.fallbacks: expected a list"),
    (config(router={"fallbacks": [{"gpt-4o": ["nope"]}]}), "router_settings.fallbacks[0].gpt-4o: unknown model name 'nope'"),
    (config(router={"num_retries": 1.5}), "router_settings.num_retries: expected a whole number"),
    (config(litellm={"cache": True, "cache_params": {"type": "redis-semantic"}}),
     "litellm_settings.cache_params.similarity_threshold"),
    (config(litellm={"cache": "yes"}), "litellm_settings.cache: expected true or false"),
    (config(litellm={"max_budget": 10, "budget_duration": "fortnight"}), "litellm_settings.budget_duration"),
    (config(deployment(model="os.environ/AZURE_MODEL")), "model_list[0].litellm_params.model: an environment"),
])
def test_bad_input_names_the_setting(data, message):
    with pytest.raises(ImportProblem) as err:
        import_config(data, "config.yaml", ImportOptions())
    assert message in str(err.value)
    assert "os.environ/AZURE_MODEL" not in str(err.value)


def _leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, i))
    yield path


@pytest.mark.parametrize("odd", [None, "x", -1, True, [1, [2]], {"a": {"b": 1}}])
def test_any_odd_value_anywhere_is_imported_or_named_never_a_crash(odd):
    """Every node of the example replaced by an odd value: the import either succeeds with a valid
    scenario or raises ImportProblem (a message naming the setting), never another exception."""
    base = read_gateway_config(EXAMPLE)
    for path in [p for p in _leaves(base) if p]:
        data = copy.deepcopy(base)
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = odd
        try:
            result = import_config(data, "config.yaml", ImportOptions())
        except ImportProblem as err:
            assert str(err).split(":")[0], path
            continue
        validate_scenario(result.scenario)


def test_an_unknown_model_for_the_traffic_is_named():
    with pytest.raises(ImportProblem, match=r"--model: unknown model name 'gpt-5'; model_list has gpt-4o"):
        import_config(config(), "config.yaml", ImportOptions(model="gpt-5"))


# --------------------------------------------------------------------------------------------- the example runs

def test_the_committed_scenario_is_the_example_imported_now():
    result = import_config(read_gateway_config(EXAMPLE), EXAMPLE_SOURCE, ImportOptions())
    assert EXAMPLE_SCENARIO.read_text() == scenario_yaml(result), \
        f"re-import: python -m sim import litellm {EXAMPLE_SOURCE} -o {EXAMPLE_SCENARIO.relative_to(ROOT)} --force"
    sim.load_scenario(EXAMPLE_SCENARIO)


def example(duration="10m", rate=2.0, **workload):
    data = copy.deepcopy(yaml.safe_load(EXAMPLE_SCENARIO.read_text()))
    data["duration"] = duration
    data["workload"] = {"rate_per_s": rate, "profile": {"type": "flat"}, **workload}
    data["output"] = {"charts": False}
    return data


def test_the_example_splits_gpt4o_calls_by_rpm():
    """simple-shuffle weighs the deployments by rpm (2700 : 1800 : 5000); no faults, so each first attempt
    lands on a deployment with those shares (binomial bound, 4 sd)."""
    result = sim.simulate(validate_scenario(example()), seed=4)
    calls = result.calls[result.calls["attempt"] == 1]
    providers = calls["provider"].astype(str)
    n = len(providers)
    assert n > 500
    for name, rpm in (("gpt-4o-azure-eastus", 2700), ("gpt-4o-azure-westeurope", 1800), ("gpt-4o-openai", 5000)):
        p = rpm / 9500
        assert abs((providers == name).mean() - p) < 4 * math.sqrt(p * (1 - p) / n), name
    assert not providers.str.startswith("claude").any()


def test_an_outage_of_every_gpt4o_deployment_falls_back_to_claude():
    data = example(duration="12m")
    data["faults"] = [{"kind": "outage", "targets": ["region:eastus", "region:westeurope", "gpt-4o-openai"],
                       "start": "4m", "duration": "4m"}]
    result = sim.simulate(validate_scenario(data), seed=4)
    calls = result.calls
    claude = calls[calls["provider"].astype(str).str.startswith("claude")]
    assert len(claude) > 100
    assert claude["start_s"].min() >= 240 and claude["start_s"].max() < 480 + 100
    during = result.requests[(result.requests["arrival_s"] >= 300) & (result.requests["arrival_s"] < 470)]
    assert (during["outcome"].astype(str) == "ok").mean() > 0.95


def test_a_prompt_over_gpt4os_window_goes_to_the_long_context_fallback():
    """150K input tokens exceed GPT-4o's 128K window: context_window_fallbacks sends them to gpt-4.1-mini
    (1M window), never to the generic fallback (claude)."""
    data = example(duration="5m", rate=0.2, input_tokens={"type": "fixed", "value": 150_000})
    result = sim.simulate(validate_scenario(data), seed=4)
    calls = result.calls
    ok = calls[calls["status"].astype(str) == "ok"]
    assert len(ok) > 20 and set(ok["provider"].astype(str)) == {"gpt-4.1-mini-openai"}
    assert not calls["provider"].astype(str).str.startswith("claude").any()
    # the rest are 429s: two 150K-token calls within a second overflow OpenAI's one-second TPM bucket
    # (10M / 60 = 167K tokens), and the proxy neither queues them nor waits before its retries
    others = calls[calls["status"].astype(str) != "ok"]
    assert set(others["status"].astype(str)) <= {"rate_limited", "context_exceeded"}
    assert result.summary["availability"] > 0.8


# --------------------------------------------------------------------------------------------- the command

def test_the_command_writes_the_scenario_and_prints_the_ignored_list(tmp_path, capsys):
    out = tmp_path / "scenario.yaml"
    assert main(["import", "litellm", str(EXAMPLE), "-o", str(out), "--name", "mine"]) == 0
    printed = capsys.readouterr().out
    assert "6 deployments, 3 model groups, chain gpt-4o -> claude-sonnet" in printed
    assert "general_settings.master_key: " in printed and "router_settings.enable_pre_call_checks" in printed
    text = out.read_text()
    assert text.startswith(IMPORT_MARKER) and "# Ignored (" in text
    assert sim.load_scenario(out).name == "mine"
    assert main(["import", "litellm", str(EXAMPLE), "-o", str(out)]) == 0          # its own file: replaced


def test_the_command_refuses_to_overwrite_a_file_it_did_not_write(tmp_path, capsys):
    out = tmp_path / "scenario.yaml"
    out.write_text("name: precious\n")
    assert main(["import", "litellm", str(EXAMPLE), "-o", str(out)]) == 2
    assert out.read_text() == "name: precious\n" and "--force" in capsys.readouterr().err
    assert main(["import", "litellm", str(EXAMPLE), "-o", str(out), "--force"]) == 0
    assert out.read_text().startswith(IMPORT_MARKER)


def test_the_command_names_a_bad_setting(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config(router={"routing_strategy": "fastest"})))
    assert main(["import", "litellm", str(path)]) == 2
    assert "router_settings.routing_strategy: unknown strategy 'fastest'" in capsys.readouterr().err
