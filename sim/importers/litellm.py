"""Import a LiteLLM proxy config (``config.yaml``) as a scenario.

A LiteLLM proxy is a switchboard with several lines per number. ``model_list`` names the numbers callers
dial (``model_name``) and, under each, the lines that answer it: every entry is one *deployment* (an Azure
region, an OpenAI key, a Bedrock account) with its own limits (``rpm``, ``tpm``), call timeout and price.
Entries sharing a ``model_name`` form a *model group*: the router picks one deployment per attempt
(``routing_strategy``), retries in the same group (``num_retries``), takes a failing deployment out of
rotation for a while (``allowed_fails``, ``cooldown_time``), and when the group still fails moves to another
group (``fallbacks``; ``context_window_fallbacks`` when the prompt is too long, ``content_policy_fallbacks``
when the content filter refuses). ``litellm_settings`` adds a response cache (exact or semantic) and a
proxy-wide budget.

The simulator has the same pieces, so the mapping is mostly one to one: each deployment becomes one
provider section (its keys, limits, region and faults its own), each model name a ``routing.groups`` entry,
the router's settings the groups' ``load_balancing``, ``resilience.retry`` and the chain. Where LiteLLM's
default differs from the simulator's (``num_retries`` 2, a 6000 s call timeout, a 0.5-8 s backoff), the
LiteLLM value is written into the scenario. The semantics and the LiteLLM source of every row are in
``docs/gateway_import.md``.

The traffic asks for one model name: ``--model``, else the first model name that has fallbacks, else the
first of ``model_list``. Every group is written, reachable or not, so a variant can send traffic to it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.importers import (PROXY_GATEWAY, PROXY_GATEWAY_NOTE, Ignored, ImportOptions, ImportProblem, ImportResult,
                           Mapped, catalogue_name, imported_traffic, is_secret, shown_value)

__all__ = ["import_config", "catalogue_id", "LITELLM_NUM_RETRIES", "LITELLM_REQUEST_TIMEOUT_S",
           "LITELLM_COOLDOWN_S", "STRATEGIES"]

# ---- LiteLLM's defaults (docs/gateway_import.md gives the source of each)
LITELLM_NUM_RETRIES = 2                 # Router.__init__: num_retries, else litellm.num_retries, else openai's 2
LITELLM_REQUEST_TIMEOUT_S = 6000.0      # litellm.request_timeout, the call timeout when nothing sets one
LITELLM_COOLDOWN_S = 5.0                # DEFAULT_COOLDOWN_TIME_SECONDS
LITELLM_ALLOWED_FAILS = 3               # litellm.allowed_fails: the value LiteLLM treats as "not set"
LITELLM_RETRY_INITIAL_S = 0.5           # _calculate_retry_after: openai-python's backoff, 0.5 s doubling
LITELLM_RETRY_MAX_S = 8.0               # ... capped at 8 s
LITELLM_RETRY_AFTER_MAX_S = 60.0        # a Retry-After header is obeyed when 0 < it <= 60 s

#: LiteLLM routing_strategy -> (the simulator's strategy, caveat or "").
STRATEGIES = {
    "simple-shuffle": ("simple-shuffle", ""),
    "least-busy": ("least-busy", ""),
    "usage-based-routing-v2": ("usage-based-routing-v2", ""),
    "usage-based-routing": ("usage-based-routing-v2", "LiteLLM's v1 (lowest_tpm_rpm.py) counts usage per "
                                                      "minute without v2's sliding window; v2 stands in"),
    "latency-based-routing": ("latency-based-routing", ""),
    "cost-based-routing": ("simple-shuffle", "cost-based routing is not modelled; simple-shuffle stands in "
                                             "(the deployments of one group usually cost the same)"),
}

#: allowed_fails_policy keys -> LoadBalancingConfig fields (the statuses the simulator's calls produce).
ALLOWED_FAILS_POLICY = {"RateLimitErrorAllowedFails": "allowed_fails_rate_limit",
                        "TimeoutErrorAllowedFails": "allowed_fails_timeout",
                        "AuthenticationErrorAllowedFails": "allowed_fails_authentication",
                        "InternalServerErrorAllowedFails": "allowed_fails_internal_server"}

#: Settings the Router also reads from the module (``litellm.<key>``, which litellm_settings sets).
LITELLM_LEVEL_KEYS = frozenset({"num_retries", "allowed_fails", "fallbacks", "context_window_fallbacks",
                                "content_policy_fallbacks", "default_fallbacks"})
#: router_settings the importer maps.
ROUTER_KEYS_READ = frozenset({"routing_strategy", "cooldown_time", "disable_cooldowns", "allowed_fails",
                              "allowed_fails_policy", "routing_strategy_args", "num_retries", "retry_after",
                              "timeout", "fallbacks", "context_window_fallbacks", "content_policy_fallbacks",
                              "default_fallbacks"})
#: An exact-match cache as a semantic cache: only a verbatim repeat (cosine 1 up to rounding) hits.
EXACT_MATCH_THRESHOLD = 0.9999

_REGION_KEYS = ("region_name", "aws_region_name", "vertex_location")
_PRICE_KEYS = ("input_cost_per_token", "output_cost_per_token")
_NAME = re.compile(r"[^A-Za-z0-9._-]+")


# --------------------------------------------------------------------------------------------- why ignored

_TOP_LEVEL = {
    "general_settings": "proxy server settings (master key, database, auth, alerting, UI): no effect on a "
                        "request's path through deployments",
    "environment_variables": "values LiteLLM puts in the environment (keys, hosts): never needed, never copied",
    "credential_list": "named provider credentials: never needed, never copied",
    "guardrails": "content checks before and after the call; their latency and verdicts are not modelled",
    "callback_settings": "logging and observability callbacks: no effect on the traffic",
    "files_settings": "file-API credentials: not part of chat traffic",
    "assistant_settings": "Assistants API settings: not part of chat traffic",
    "mcp_servers": "MCP tool servers: tool steps are workload.tools in the scenario, not imported",
    "search_tools": "search-API tools: not part of chat traffic",
    "vector_store_registry": "vector stores for RAG: retrieval is workload.retrieval, not imported",
}
_ENTRY_KEYS = {"model_name", "litellm_params", "model_info", "rpm", "tpm"}
_PARAMS = {
    "api_key": "credential: never needed, never copied",
    "api_base": "the endpoint's address: the simulator needs no address",
    "api_version": "API version sent to Azure: no effect on timing, limits or price",
    "organization": "OpenAI organisation header: no effect on timing, limits or price",
    "aws_access_key_id": "credential: never needed, never copied",
    "aws_secret_access_key": "credential: never needed, never copied",
    "aws_session_token": "credential: never needed, never copied",
    "aws_role_name": "credential: never needed, never copied",
    "vertex_credentials": "credential: never needed, never copied",
    "vertex_project": "the cloud project billed: no effect on timing, limits or price",
    "max_retries": "the provider SDK's own retries; the router sets them to 0 and retries itself",
    "stream_timeout": "timeout of streaming calls; calls are simulated whole (timeout)",
    "cooldown_time": "a deployment's own cooldown; the scenario's groups have one cooldown_s per group",
    "order": "deployment priority (order-based fallback within a group) is not modelled",
    "tags": "tag-based routing (the request's tags pick deployments) is not modelled",
    "mock_response": "a canned answer for tests: the simulator draws its own outcomes",
    "drop_params": "drops unsupported request parameters: no effect on timing, limits or price",
    "use_in_pass_through": "pass-through endpoints are not part of chat traffic",
}
_MODEL_INFO = {
    "mode": "the endpoint type (chat, embedding...): every call is a chat call here",
    "max_tokens": "the catalogue model's window is used (context_window_tokens)",
    "max_input_tokens": "the catalogue model's window is used (context_window_tokens)",
    "max_output_tokens": "the catalogue model's max_output_tokens is used",
    "supports_function_calling": "a capability flag: no effect on timing, limits or price",
    "supports_vision": "a capability flag: no effect on timing, limits or price",
    "access_groups": "which virtual keys may call the deployment: every request may here",
}
_ROUTER = {
    "redis_host": "shared state across proxy instances (one simulated gateway holds it all)",
    "redis_port": "shared state across proxy instances (one simulated gateway holds it all)",
    "redis_password": "credential: never needed, never copied",
    "redis_url": "shared state across proxy instances (one simulated gateway holds it all)",
    "enable_pre_call_checks": "drops deployments whose window is too small before the pick; the groups do "
                              "not (an over-long call fails and context_window_fallbacks apply)",
    "retry_policy": "per-exception retry counts are not modelled; num_retries applies to every failure",
    "model_group_retry_policy": "per-group retry counts are not modelled; num_retries applies to every group",
    "model_group_alias": "aliases of model names: the traffic asks for one group by its own name",
    "max_fallbacks": "the chain holds the traffic group's own fallbacks, fewer than LiteLLM's bound (5)",
    "provider_budget_config": "per-provider budgets are not modelled (litellm_settings.max_budget is)",
    "stream_timeout": "timeout of streaming calls; calls are simulated whole",
    "enable_tag_filtering": "tag-based routing is not modelled",
    "tag_filtering_match_any": "tag-based routing is not modelled",
    "default_max_parallel_requests": "a default for max_parallel_requests: set it on each deployment",
    "cache_responses": "the response cache is read from litellm_settings.cache",
    "polling_interval": "request priority queue (scheduler) is not modelled",
    "optional_pre_call_checks": "pre-call filters are not modelled",
    "alerting_config": "alerts: no effect on the traffic",
    "routing_groups": "routing groups of model groups are not modelled",
}
_LITELLM = {
    "success_callback": "logging callbacks: no effect on the traffic",
    "failure_callback": "logging callbacks: no effect on the traffic",
    "callbacks": "logging or guardrail callbacks: their latency is not modelled",
    "service_callback": "logging callbacks: no effect on the traffic",
    "drop_params": "drops unsupported request parameters: no effect on timing, limits or price",
    "set_verbose": "logging verbosity",
    "json_logs": "logging format",
    "turn_off_message_logging": "logging contents",
    "redact_user_api_key_info": "logging contents",
    "max_internal_user_budget": "per-user budgets of the admin UI are not modelled",
    "internal_user_budget_duration": "per-user budgets of the admin UI are not modelled",
    "max_end_user_budget": "per-end-user budgets are not modelled (resilience.kill_switch.per_user_per_day_usd "
                           "could stand in)",
    "soft_budget": "an alert threshold: LiteLLM only warns at it",
    "default_fallbacks": "read with the fallbacks (router_settings)",
    "modify_params": "rewrites request parameters: no effect on timing, limits or price",
}
_CACHE_PARAMS = {
    "host": "the cache server's address", "port": "the cache server's address",
    "password": "credential: never needed, never copied", "namespace": "key prefix in the cache server",
    "redis_semantic_cache_embedding_model": "the embedding model; its price is cache.embedding_usd_per_mtok "
                                            "(the simulator's default stands in)",
    "qdrant_semantic_cache_embedding_model": "the embedding model; its price is cache.embedding_usd_per_mtok "
                                             "(the simulator's default stands in)",
    "qdrant_collection_name": "where Qdrant keeps the entries", "qdrant_quantization_config": "index detail",
    "supported_call_types": "which endpoints are cached: chat calls are",
    "mode": "default_on/default_off: a request opts in; here every request is looked up",
    "s3_bucket_name": "where S3 keeps the entries", "s3_region_name": "where S3 keeps the entries",
    "disk_cache_dir": "where the disk cache keeps the entries",
}
_GENERIC = "not modelled by the simulator (unknown to the importer; check docs/gateway_import.md)"


# --------------------------------------------------------------------------------------------- helpers

def _problem(where: str, message: str) -> ImportProblem:
    return ImportProblem(f"{where}: {message}")


def _mapping(value: Any, where: str, *, required: bool = False) -> dict:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise _problem(where, f"expected a mapping of settings, got {type(value).__name__}")
    return value


def _number(value: Any, where: str, *, minimum: float = 0.0, integer: bool = False) -> float:
    """A number from the config (YAML may give it as text: '60'); wrong types name the setting."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise _problem(where, f"expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise _problem(where, f"expected a number, got {value!r}")
    if value < minimum:
        raise _problem(where, f"must be at least {minimum:g}, got {value!r}")
    if integer and value != int(value):
        raise _problem(where, f"expected a whole number, got {value!r}")
    return int(value) if integer else float(value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _problem(where, f"expected a non-empty text, got {value!r}")
    return value.strip()


def _safe_name(text: str) -> str:
    """A provider, model or group name the scenario accepts: letters, digits, '.', '_', '-'."""
    name = _NAME.sub("-", text).strip("-.") or "deployment"
    return name[:100]


#: The catalogue model a LiteLLM model string names (``azure/gpt-4o-2024-08-06`` -> ``gpt-4o``), not checked.
catalogue_id = catalogue_name


# --------------------------------------------------------------------------------------------- the import

@dataclass
class _Deployment:
    group: str            # the (safe) model name
    provider: dict        # its provider section
    weight: float | None

    @property
    def target(self) -> str:
        return f"{self.provider['name']}/{self.provider['models'][0]['name']}"


@dataclass
class _Settings:
    """The router's settings as read (router_settings first, litellm_settings second)."""

    timeout_s: float = LITELLM_REQUEST_TIMEOUT_S
    load_balancing: dict = field(default_factory=dict)


class _LiteLLMImport:
    def __init__(self, config: dict, source: str, options: ImportOptions):
        self.config = config
        self.options = options
        self.result = ImportResult("litellm", source, scenario={})
        self.router = _mapping(config.get("router_settings"), "router_settings")
        self.litellm = _mapping(config.get("litellm_settings"), "litellm_settings")
        self.settings = _Settings()
        self.deployments: list[_Deployment] = []
        self.groups: dict[str, str] = {}        # model_name as written -> group name in the scenario
        self.resilience: dict = {}
        self.routing: dict = {}
        self.cache: dict | None = None
        self._shadowed: set[str] = set()

    # ---- bookkeeping
    def mapped(self, setting: str, to: str, note: str = "") -> None:
        self.result.mapped.append(Mapped(setting, to, note))

    def ignored(self, setting: str, reason: str, value: Any = None, *, hide: bool = False) -> None:
        shown = None if hide else shown_value(setting, value)
        self.result.ignored.append(Ignored(setting, reason, shown))

    def note(self, text: str) -> None:
        self.result.notes.append(text)

    def setting(self, key: str) -> tuple[Any, str] | tuple[None, None]:
        """A router setting and where it was given. The Router takes its argument (router_settings) first,
        then, for a few keys, the module-level ``litellm.<key>`` that litellm_settings sets."""
        in_router = self.router.get(key) is not None
        in_litellm = key in LITELLM_LEVEL_KEYS and self.litellm.get(key) is not None
        if in_router and in_litellm and key not in self._shadowed:
            self._shadowed.add(key)
            self.mapped(f"litellm_settings.{key}", "(none)", f"router_settings.{key} takes precedence")
        if in_router:
            return self.router[key], f"router_settings.{key}"
        if in_litellm:
            return self.litellm[key], f"litellm_settings.{key}"
        return None, None

    # ---- the whole config
    def run(self) -> ImportResult:
        self._top_level()
        self._timeout()
        self._load_balancing()
        self._model_list()
        traffic = self._traffic_group()
        self._routing(traffic)
        self._retry(traffic)
        self._cache()
        self._budget()
        self._remaining_settings()
        self.result.scenario = self._scenario()
        return self.result

    def _top_level(self) -> None:
        if "model_list" not in self.config:
            raise _problem("model_list", "missing: a LiteLLM proxy config lists its deployments there")
        for key, value in self.config.items():
            if key in ("model_list", "router_settings", "litellm_settings"):
                continue
            hide = key in ("environment_variables", "credential_list")
            if isinstance(value, dict) and value:
                for sub, sub_value in value.items():
                    self.ignored(f"{key}.{sub}", _TOP_LEVEL.get(key, _GENERIC), sub_value, hide=hide)
            else:
                self.ignored(str(key), _TOP_LEVEL.get(key, _GENERIC), value, hide=hide)

    # ---- timeouts
    def _timeout(self) -> None:
        """Router.timeout = router_settings.timeout or litellm.request_timeout (6000 s): the timeout of each
        call (the proxy's async path passes it to the provider call), not of the whole request."""
        where = "router_settings.timeout"
        value = self.router.get("timeout")
        if value is None:
            where, value = "litellm_settings.request_timeout", self.litellm.get("request_timeout")
        elif self.litellm.get("request_timeout") is not None:
            self.mapped("litellm_settings.request_timeout", "(none)", "router_settings.timeout takes precedence")
        if value is None:
            self.note(f"no timeout is set: LiteLLM's call timeout is litellm.request_timeout, "
                      f"{LITELLM_REQUEST_TIMEOUT_S:g} s; written as each model's timeout_s")
            return
        self.settings.timeout_s = _number(value, where, minimum=1e-3)
        self.mapped(where, "providers[*].models[0].timeout_s",
                    "the call timeout of every deployment without its own litellm_params.timeout; LiteLLM's "
                    "proxy sets no end-to-end deadline, so gateway.request_timeout_s (the client's) stays")

    # ---- load balancing (the same for every group: LiteLLM's router settings are global)
    def _load_balancing(self) -> None:
        lb = self.settings.load_balancing
        strategy = self.router.get("routing_strategy")
        if strategy is not None:
            if not isinstance(strategy, str) or strategy not in STRATEGIES:
                raise _problem("router_settings.routing_strategy", f"unknown strategy {strategy!r}; LiteLLM "
                               f"accepts {', '.join(STRATEGIES)}")
            lb["strategy"], caveat = STRATEGIES[strategy]
            self.mapped("router_settings.routing_strategy", "routing.groups.*.load_balancing.strategy", caveat)
        self._cooldown(lb)
        self._allowed_fails(lb)
        self._strategy_args(lb)

    def _cooldown(self, lb: dict) -> None:
        value, where = self.setting("cooldown_time")
        lb["cooldown_s"] = LITELLM_COOLDOWN_S if value is None else _number(value, where, minimum=1e-3)
        if value is not None:
            self.mapped(where, "routing.groups.*.load_balancing.cooldown_s")
        value, where = self.setting("disable_cooldowns")
        if value is not None:
            if not isinstance(value, bool):
                raise _problem(where, f"expected true or false, got {value!r}")
            lb["disable_cooldowns"] = value
            self.mapped(where, "routing.groups.*.load_balancing.disable_cooldowns")

    def _allowed_fails(self, lb: dict) -> None:
        value, where = self.setting("allowed_fails")
        if value is not None:
            count = _number(value, where, integer=True)
            if count == LITELLM_ALLOWED_FAILS:
                self.mapped(where, "routing.groups.*.load_balancing.allowed_fails = null",
                            f"{LITELLM_ALLOWED_FAILS} is LiteLLM's default, which it treats as not set: the "
                            "percentage rule decides cooldowns")
            else:
                lb["allowed_fails"] = count
                self.mapped(where, "routing.groups.*.load_balancing.allowed_fails",
                            "the legacy count rule decides cooldowns")
        policy = _mapping(self.router.get("allowed_fails_policy"), "router_settings.allowed_fails_policy")
        for key, count in policy.items():
            where = f"router_settings.allowed_fails_policy.{key}"
            if key in ALLOWED_FAILS_POLICY:
                lb[ALLOWED_FAILS_POLICY[key]] = _number(count, where, integer=True)
                self.mapped(where, f"routing.groups.*.load_balancing.{ALLOWED_FAILS_POLICY[key]}")
            else:
                self.ignored(where, "failures of this kind (400s, content policy) never cool a deployment down "
                             "in the simulator", count)

    def _strategy_args(self, lb: dict) -> None:
        args = _mapping(self.router.get("routing_strategy_args"), "router_settings.routing_strategy_args")
        fields = {"lowest_latency_buffer": "lowest_latency_buffer", "max_latency_list_size": "max_latency_list_size",
                  "ttl": "latency_ttl_s"}
        for key, value in args.items():
            where = f"router_settings.routing_strategy_args.{key}"
            if key in fields:
                lb[fields[key]] = _number(value, where, integer=key == "max_latency_list_size")
                self.mapped(where, f"routing.groups.*.load_balancing.{fields[key]}")
            else:
                self.ignored(where, "a strategy argument the simulator's strategies do not take", value)

    # ---- deployments
    def _model_list(self) -> None:
        entries = self.config["model_list"]
        if not isinstance(entries, list) or not entries:
            raise _problem("model_list", "expected a list of deployments (model_name + litellm_params)")
        for index, entry in enumerate(entries):
            deployment = self._deployment(index, _mapping(entry, f"model_list[{index}]", required=True))
            if deployment is not None:
                self.deployments.append(deployment)
        if not self.deployments:
            raise _problem("model_list", "no deployment the simulator can model (wildcards only)")

    def _deployment(self, index: int, entry: dict) -> _Deployment | None:
        at = f"model_list[{index}]"
        model_name = _text(entry.get("model_name"), f"{at}.model_name")
        params = _mapping(entry.get("litellm_params"), f"{at}.litellm_params", required=True)
        model = _text(params.get("model"), f"{at}.litellm_params.model")
        if "*" in model_name or "*" in model:
            self.ignored(at, "a wildcard route (any model matching a pattern) has no fixed deployment to "
                         "simulate", f"{model_name}: {model}")
            return None
        info = _mapping(entry.get("model_info"), f"{at}.model_info")
        if model_name not in self.groups:
            self.groups[model_name] = self._group_name(model_name)
        group = self.groups[model_name]
        provider = {"name": self._provider_name(info, group, at)}
        self.mapped(f"{at}.model_name", f"routing.groups.{group}.deployments")
        region = self._region(params, at, provider["name"])
        if region:
            provider["region"] = region
        provider["limits"] = self._limits(entry, params, at, model, provider["name"])
        concurrency = params.get("max_parallel_requests")
        if concurrency is not None:
            provider["max_concurrency"] = _number(concurrency, f"{at}.litellm_params.max_parallel_requests",
                                                  minimum=1, integer=True)
            self.mapped(f"{at}.litellm_params.max_parallel_requests",
                        f"providers[{provider['name']}].max_concurrency")
        provider["models"] = [self._model(params, info, at, provider["name"])]
        if not provider["limits"]:
            del provider["limits"]
        weight = self._weight(params, at, model_name)
        self._ignore_rest(entry, params, info, at)
        return _Deployment(group, provider, weight)

    def _group_name(self, model_name: str) -> str:
        name = _safe_name(model_name)
        taken = set(self.groups.values())
        candidate, n = name, 2
        while candidate in taken:
            candidate, n = f"{name}-{n}", n + 1
        if candidate != model_name:
            self.note(f"model name {model_name!r} is group {candidate!r} in the scenario (a group name is "
                      "letters, digits, '.', '_', '-')")
        return candidate

    def _provider_name(self, info: dict, group: str, at: str) -> str:
        taken = {d.provider["name"] for d in self.deployments}
        if info.get("id") is not None and not is_secret("id", str(info["id"])):
            base = _safe_name(str(info["id"]))
            self.mapped(f"{at}.model_info.id", f"providers[{base}].name")
        else:
            base = f"{group}-{sum(d.group == group for d in self.deployments) + 1}"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        return name

    def _region(self, params: dict, at: str, provider: str) -> str | None:
        for key in _REGION_KEYS:
            if params.get(key) is not None:
                region = _safe_name(_text(params[key], f"{at}.litellm_params.{key}"))
                self.mapped(f"{at}.litellm_params.{key}", f"providers[{provider}].region",
                            "faults may target region:" + region)
                return region
        return None

    def _limits(self, entry: dict, params: dict, at: str, model: str, provider: str) -> dict:
        limits = {}
        for key, field_name in (("rpm", "requests_per_min"), ("tpm", "tokens_per_min")):
            where, value = f"{at}.litellm_params.{key}", params.get(key)
            if value is None and entry.get(key) is not None:
                where, value = f"{at}.{key}", entry[key]
            if value is not None:
                limits[field_name] = _number(value, where, minimum=1, integer=True)
                self.mapped(where, f"providers[{provider}].limits.{field_name}",
                            "enforced as the deployment's own limit; also simple-shuffle's weight")
        if limits:
            self._enforcement(limits, model)
        return limits

    @staticmethod
    def _enforcement(limits: dict, model: str) -> None:
        """The provider's documented enforcement (catalogue), by LiteLLM's provider route (openai/...)."""
        from sim.provider_catalogue import load_catalogue
        route = model.split("/", 1)[0].lower() if "/" in model else ""
        documented = load_catalogue().enforcement_for(route) if route else None
        if documented is not None:
            limits["enforcement_period_s"] = float(documented["period_s"])
            limits["reserve_max_output"] = bool(documented["reserve_max_output"])

    def _model(self, params: dict, info: dict, at: str, provider: str) -> dict:
        model = params["model"]
        base = info.get("base_model")
        if base is None and is_secret("model", model):
            raise _problem(f"{at}.litellm_params.model", "an environment reference: the importer needs the "
                           "model's name; add model_info.base_model (e.g. azure/gpt-4o)")
        named = _text(base, f"{at}.model_info.base_model") if base is not None else model
        from sim.provider_catalogue import load_catalogue
        known = load_catalogue().model_names()
        cat = catalogue_id(named)
        prices = self._prices(params, info, at, provider)
        out: dict[str, Any] = {}
        if cat in known:
            out = {"name": cat, "catalogue": cat}
            source = f"{at}.model_info.base_model" if base is not None else f"{at}.litellm_params.model"
            self.mapped(source, f"providers[{provider}].models[0].catalogue = {cat}")
        elif len(prices) == 2:
            out = {"name": _safe_name(cat)}
            self.note(f"{at} ({named}): not in the catalogue; its prices are the config's, its latency the "
                      "simulator's default (ttft 0.6 s, 60 tokens/s)")
        else:
            raise _problem(at, f"model {named!r} (catalogue id {cat!r}) is not in the catalogue "
                           f"({', '.join(known)}); add model_info.base_model naming one, or "
                           "litellm_params.input_cost_per_token and output_cost_per_token")
        out.update(prices)
        out["timeout_s"] = self._call_timeout(params, at, provider)
        return out

    def _prices(self, params: dict, info: dict, at: str, provider: str) -> dict:
        prices = {}
        for key, field_name in zip(_PRICE_KEYS, ("input_usd_per_mtok", "output_usd_per_mtok")):
            for section, values in (("litellm_params", params), ("model_info", info)):
                if values.get(key) is not None:
                    where = f"{at}.{section}.{key}"
                    prices[field_name] = round(_number(values[key], where) * 1e6, 9)
                    self.mapped(where, f"providers[{provider}].models[0].{field_name}", "USD per token x 10^6")
                    break
        return prices

    def _call_timeout(self, params: dict, at: str, provider: str) -> float:
        if params.get("timeout") is None:
            return self.settings.timeout_s
        self.mapped(f"{at}.litellm_params.timeout", f"providers[{provider}].models[0].timeout_s")
        return _number(params["timeout"], f"{at}.litellm_params.timeout", minimum=1e-3)

    def _weight(self, params: dict, at: str, model_name: str) -> float | None:
        if params.get("weight") is None:
            return None
        self.mapped(f"{at}.litellm_params.weight", f"routing.groups.{self.groups[model_name]}.weights",
                    "simple-shuffle's weight; a deployment of the group without one weighs 0")
        return _number(params["weight"], f"{at}.litellm_params.weight")

    def _ignore_rest(self, entry: dict, params: dict, info: dict, at: str) -> None:
        used = {"model", "rpm", "tpm", "timeout", "max_parallel_requests", "weight", *_REGION_KEYS, *_PRICE_KEYS}
        for key, value in params.items():
            if key not in used:
                self.ignored(f"{at}.litellm_params.{key}", _PARAMS.get(key, "a parameter of the provider call: "
                             "no effect on timing, limits or price as simulated"), value)
        for key, value in info.items():
            if key not in ("id", "base_model", *_PRICE_KEYS):
                self.ignored(f"{at}.model_info.{key}", _MODEL_INFO.get(key, "model metadata: not modelled"), value)
        for key, value in entry.items():
            if key not in _ENTRY_KEYS:
                self.ignored(f"{at}.{key}", _GENERIC, value)

    # ---- which group the traffic asks for, and where it falls back
    def _fallbacks(self, key: str) -> tuple[dict[str, list[str]] | None, str | None]:
        """LiteLLM's list of {model_name: [model_names]} as a mapping of group names, or None if not set."""
        value, where = self.setting(key)
        if value is None:
            return None, None
        if not isinstance(value, list):
            raise _problem(where, 'expected a list like [{"gpt-4o": ["claude-sonnet"]}]')
        out: dict[str, list[str]] = {}
        for i, item in enumerate(value):
            if not isinstance(item, dict) or len(item) != 1:
                raise _problem(f"{where}[{i}]", 'expected one mapping like {"gpt-4o": ["claude-sonnet"]}')
            (source, targets), = item.items()
            targets = [targets] if isinstance(targets, str) else targets
            if not isinstance(targets, list):
                raise _problem(f"{where}[{i}].{source}", "expected a list of model names")
            out[str(source)] = [self._group_of(t, f"{where}[{i}].{source}") for t in targets]
        return out, where

    def _group_of(self, model_name: Any, where: str) -> str:
        if not isinstance(model_name, str) or model_name not in self.groups:
            raise _problem(where, f"unknown model name {model_name!r}; model_list has "
                           f"{', '.join(self.groups) or 'none'}")
        return self.groups[model_name]

    def _traffic_group(self) -> str:
        if self.options.model is not None:
            return self._group_of(self.options.model, "--model")
        general, _ = self._fallbacks("fallbacks")
        for name in self.groups:
            if general and name in general:
                return self.groups[name]
        return next(iter(self.groups.values()))

    def _routing(self, traffic: str) -> None:
        """Router.async_function_with_fallbacks: after the group's retries fail, the group's entry of
        ``fallbacks`` (else its ``"*"`` entry, which default_fallbacks adds) is tried in order."""
        model_name = {v: k for k, v in self.groups.items()}[traffic]
        general, where = self._fallbacks("fallbacks")
        default, default_where = self._default_fallbacks()
        general = dict(general or {})
        if default is not None:
            general.setdefault("*", default)
        targets = general.get(model_name, general.get("*", []))
        chain = [traffic] + [g for g in dict.fromkeys(targets) if g != traffic]
        for setting in (where, default_where):
            if setting is not None:
                self.mapped(setting, "routing.chain, resilience.fallback",
                            f"{model_name}'s fallbacks, tried after its retries fail; other groups' entries "
                            "apply when a variant sends traffic to them (a fallback's own fallbacks are not "
                            "appended)")
        self.routing["chain"] = chain
        self.resilience["fallback"] = len(chain) > 1
        self._special_fallbacks(traffic, model_name, chain[1:])
        if len(self.groups) > 1:
            self.note(f"the traffic asks for one model name, {model_name!r} (--model picks another); "
                      f"every group is written so a variant can use it")

    def _default_fallbacks(self) -> tuple[list[str] | None, str | None]:
        value, where = self.setting("default_fallbacks")
        if value is None:
            return None, None
        if not isinstance(value, list):
            raise _problem(where, "expected a list of model names")
        return [self._group_of(v, where) for v in value], where

    def _special_fallbacks(self, traffic: str, model_name: str, general: list[str]) -> None:
        """context_window_fallbacks and content_policy_fallbacks. Router.async_function_with_fallbacks: when
        the setting is not given, such an error goes to the generic fallbacks; when it is given but names
        no fallback for this group, the error is final."""
        fallback_on = ["error", "timeout", "rate_limited", "too_large"]
        window, where = self._fallbacks("context_window_fallbacks")
        if window is None:
            fallback_on.insert(3, "context_exceeded")
            self.routing["context_window_fallbacks"] = []
        else:
            self.routing["context_window_fallbacks"] = [g for g in window.get(model_name, []) if g != traffic]
            self.mapped(where, "routing.context_window_fallbacks",
                        "none for the traffic's group: a call over its window fails"
                        if not self.routing["context_window_fallbacks"] else "")
        policy, where = self._fallbacks("content_policy_fallbacks")
        if policy is None:
            self.routing["content_policy_fallbacks"] = list(general)
            if general:
                self.note("content_policy_fallbacks not set: LiteLLM sends a refusal to the generic fallbacks, "
                          "written as routing.content_policy_fallbacks")
        else:
            self.routing["content_policy_fallbacks"] = [g for g in policy.get(model_name, []) if g != traffic]
            self.mapped(where, "routing.content_policy_fallbacks",
                        "none for the traffic's group: a refusal is final"
                        if not self.routing["content_policy_fallbacks"] else "")
        self.resilience["fallback_on"] = fallback_on

    # ---- retries
    def _retry(self, traffic: str) -> None:
        """``num_retries`` retries in the same group. The wait before each (``_time_to_sleep_before_retry``):
        none while the group has another healthy deployment (the retry re-picks, so waiting would only add
        latency); for a lone deployment ``_calculate_retry_after``, 0.5 s doubling to 8 s with jitter, at
        least ``retry_after``, or a Retry-After header of up to 60 s. The traffic's group decides which."""
        value, where = self.setting("num_retries")
        retries = LITELLM_NUM_RETRIES if value is None else _number(value, where, integer=True)
        if value is None:
            self.note(f"num_retries not set: LiteLLM's default {LITELLM_NUM_RETRIES} (openai's "
                      f"DEFAULT_MAX_RETRIES) is written, max_attempts {LITELLM_NUM_RETRIES + 1}")
        else:
            self.mapped(where, "resilience.retry.max_attempts", "num_retries + 1")
        value, where = self.setting("retry_after")
        floor = 0.0 if value is None else _number(value, where)
        retry = {"max_attempts": retries + 1, "jitter": "none"}
        if sum(d.group == traffic for d in self.deployments) > 1:
            retry.update(base_delay_s=0.0, max_delay_s=0.0, honor_retry_after=False)
            if value is not None:
                self.mapped(where, "(none)", f"group {traffic} has several deployments: LiteLLM retries at "
                            "once on another, without waiting retry_after")
            self.note(f"retries re-pick group {traffic} at once, as LiteLLM does while another deployment is "
                      "healthy (resilience.retry.base_delay_s 0, Retry-After not awaited)")
        else:
            retry.update(base_delay_s=max(LITELLM_RETRY_INITIAL_S, floor), multiplier=2.0,
                         max_delay_s=max(LITELLM_RETRY_MAX_S, floor), honor_retry_after=True,
                         max_retry_after_s=LITELLM_RETRY_AFTER_MAX_S)
            if value is not None:
                self.mapped(where, "resilience.retry.base_delay_s, max_delay_s",
                            "LiteLLM's floor under the backoff (0: none); one above 0.5 s raises the backoff's "
                            "start to it")
        self.resilience["retry"] = retry

    # ---- cache
    def _cache(self) -> None:
        """``cache: true`` makes the proxy build ``litellm.Cache(**cache_params)``, type ``redis`` unless
        given (proxy_server.py). A semantic type hits at cosine >= similarity_threshold; any other is an
        exact-match cache."""
        enabled = self.litellm.get("cache")
        params = _mapping(self.litellm.get("cache_params"), "litellm_settings.cache_params")
        if enabled is not None and not isinstance(enabled, bool):
            raise _problem("litellm_settings.cache", f"expected true or false, got {enabled!r}")
        if not enabled:
            if enabled is False:
                self.mapped("litellm_settings.cache", "cache.enabled = false")
            for key, value in params.items():
                self.ignored(f"litellm_settings.cache_params.{key}", "litellm_settings.cache is not true", value)
            return
        kind = params.get("type", "redis")
        if not isinstance(kind, str):
            raise _problem("litellm_settings.cache_params.type", f"expected a cache type, got {kind!r}")
        self.mapped("litellm_settings.cache", "cache.enabled")
        self.cache = self._semantic_cache(kind, params) if "semantic" in kind else self._exact_cache(kind)
        where = "litellm_settings.cache_params"
        if params.get("ttl") is not None:
            self.cache["ttl_s"] = _number(params["ttl"], f"{where}.ttl", minimum=1e-3)
            self.mapped(f"{where}.ttl", "cache.ttl_s")
        for key, value in params.items():
            if key not in ("type", "similarity_threshold", "ttl"):
                self.ignored(f"{where}.{key}", _CACHE_PARAMS.get(key, "a cache backend detail: not modelled"),
                             value)

    def _semantic_cache(self, kind: str, params: dict) -> dict:
        where = "litellm_settings.cache_params.similarity_threshold"
        if params.get("similarity_threshold") is None:
            raise _problem(where, f"a {kind} cache needs it (LiteLLM refuses to start without it)")
        threshold = _number(params["similarity_threshold"], where)
        if threshold > 1:
            raise _problem(where, f"a cosine similarity is at most 1, got {threshold}")
        self.mapped(where, "cache.threshold", "a hit when cosine >= it")
        self.mapped("litellm_settings.cache_params.type", f"cache (semantic: {kind})")
        return {"enabled": True, "threshold": threshold}

    def _exact_cache(self, kind: str) -> dict:
        self.mapped("litellm_settings.cache_params.type", f"cache.threshold = {EXACT_MATCH_THRESHOLD}",
                    f"an exact-match {kind} cache: only verbatim repeats hit (the workload's repeat_share)")
        return {"enabled": True, "threshold": EXACT_MATCH_THRESHOLD}

    # ---- budget
    def _budget(self) -> None:
        budget = self.litellm.get("max_budget")
        duration = self.litellm.get("budget_duration")
        if budget is None:
            if duration is not None:
                self.ignored("litellm_settings.budget_duration", "no max_budget to reset", duration)
            return
        usd = _number(budget, "litellm_settings.max_budget", minimum=1e-9)
        seconds = None if duration is None else _budget_seconds(duration)
        field_name, limit = _kill_switch_window(usd, seconds)
        self.resilience["kill_switch"] = {field_name: limit, "soft_fraction": 1.0}
        span = "never resets" if seconds is None else f"resets every {duration}"
        self.mapped("litellm_settings.max_budget", f"resilience.kill_switch.{field_name} = {limit:g}",
                    f"LiteLLM's proxy budget {span} and rejects every call once spent; the kill switch's window "
                    "slides instead of resetting, and soft_fraction 1 leaves out the soft level LiteLLM lacks")
        if duration is not None:
            self.mapped("litellm_settings.budget_duration", f"resilience.kill_switch.{field_name}",
                        "the whole budget over the smallest window at least as long (exact for a run shorter "
                        "than the period, starting at a reset); under an hour, scaled up to the hour")

    # ---- what is left
    def _remaining_settings(self) -> None:
        for key, value in self.router.items():
            if key not in ROUTER_KEYS_READ:
                self.ignored(f"router_settings.{key}", _ROUTER.get(key, _GENERIC), value)
        read = LITELLM_LEVEL_KEYS | {"request_timeout", "cache", "cache_params", "max_budget", "budget_duration"}
        for key, value in self.litellm.items():
            if key not in read:
                self.ignored(f"litellm_settings.{key}", _LITELLM.get(key, _GENERIC), value)

    # ---- the scenario
    def _scenario(self) -> dict:
        groups = {}
        for group in dict.fromkeys(d.group for d in self.deployments):
            members = [d for d in self.deployments if d.group == group]
            entry: dict[str, Any] = {"deployments": [d.target for d in members]}
            if any(d.weight is not None for d in members):
                entry["weights"] = [d.weight or 0.0 for d in members]
            entry["load_balancing"] = dict(self.settings.load_balancing)
            groups[group] = entry
        self.routing = {"groups": groups, **self.routing}
        workload, duration, where = imported_traffic(self.options)
        self.note(where)
        self.note(PROXY_GATEWAY_NOTE)
        scenario: dict[str, Any] = {"name": self._name(), "description": f"LiteLLM proxy config "
                                    f"{Path(self.result.source).name}, imported by python -m sim import litellm",
                                    "duration": duration, "workload": workload, "gateway": dict(PROXY_GATEWAY),
                                    "providers": [d.provider for d in self.deployments], "routing": self.routing}
        if self.cache is not None:
            scenario["cache"] = self.cache
        scenario["resilience"] = self.resilience
        return scenario

    def _name(self) -> str:
        if self.options.name:
            return self.options.name
        return _safe_name(Path(self.result.source).stem) or "litellm"


_BUDGET_UNITS_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0, "mo": 30 * 86400.0}


def _budget_seconds(value: Any) -> float:
    """LiteLLM's budget_duration ('30s', '30m', '1h', '1d', '1mo') in seconds; a month counts 30 days."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(mo|s|m|h|d|w)\s*", str(value))
    if match is None or float(match.group(1)) <= 0:
        raise _problem("litellm_settings.budget_duration", f"expected a duration like '1h', '1d' or '1mo', "
                       f"got {value!r}")
    return float(match.group(1)) * _BUDGET_UNITS_S[match.group(2)]


def _kill_switch_window(usd: float, seconds: float | None) -> tuple[str, float]:
    """The kill-switch window for a budget that resets every ``seconds``: the smallest window (hour, day,
    30 days) at least that long, holding the whole budget, so a run shorter than the budget period may spend
    exactly what LiteLLM allows after a reset at t=0. A period under an hour is scaled up to the hour, one
    over 30 days down to 30 days (pro rata); a budget that never resets is a 30-day limit."""
    if seconds is None:
        return "per_month_usd", usd
    if seconds <= 3600.0:
        return "per_hour_usd", round(usd * 3600.0 / seconds, 6)
    if seconds <= 86400.0:
        return "per_day_usd", usd
    return "per_month_usd", round(usd * min(1.0, 30 * 86400.0 / seconds), 6)


def import_config(config: dict, source: str, options: ImportOptions) -> ImportResult:
    """Map a LiteLLM proxy config (the parsed YAML) to a scenario; see the module doc."""
    if not isinstance(config, dict):
        raise ImportProblem(f"{source}: expected a mapping of settings at the top")
    return _LiteLLMImport(config, source, options).run()
