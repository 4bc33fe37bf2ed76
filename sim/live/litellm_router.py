"""A real LiteLLM Router, built from a LiteLLM proxy config and pointed at ``sim serve``.

The twin check puts the gateway a team runs in front of the simulator's providers: the same proxy config that
``python -m sim import litellm`` turns into a scenario becomes an in-process ``litellm.Router`` whose every
deployment calls ``sim serve`` on loopback instead of Azure, OpenAI or Bedrock:

* a deployment's ``api_base`` becomes ``http://127.0.0.1:PORT/<provider>/v1``, where ``<provider>`` is the
  provider section ``sim import litellm`` makes of that deployment (its ``model_info.id``, else
  ``<group>-<n>``: the names are taken from the importer itself, so the two always agree), and its ``model``
  ``openai/<the scenario's model name>`` (serve speaks OpenAI's shape to every provider);
* credentials are dropped (a dummy ``api_key``; ``os.environ/...`` references are never read), and so is
  everything that would leave the machine or needs a service (Redis, caches, callbacks, alerting, budgets,
  the database); the dropped settings are listed;
* ``model_info.id`` is set to the provider's name, so an answer's deployment id names the scenario provider.

**Time compression.** At ``speed`` X every time setting the Router takes is divided by X: ``timeout``,
``stream_timeout``, ``retry_after``, ``cooldown_time``, each deployment's ``timeout`` / ``stream_timeout``,
and the latency strategy's ``ttl``; ``rpm`` and ``tpm`` are multiplied by X (a simulated minute's budget
is spent in a wall minute / X, so usage-based routing and the rpm weights of simple-shuffle keep their
proportions). What cannot be scaled, and how it distorts the replay:

* the failure counters behind LiteLLM's percentage cooldown rule (``cooldown_handlers.py``: failures and
  requests "this minute", a 60 s cache TTL in ``router_rust/core.py``) count per *wall* minute: at speed 60
  they span a simulated hour, so a deployment is judged on far more calls than in production, and a burst of
  failures is diluted by an hour of successes -- cooldowns start later or not at all;
* openai-python's retry backoff (``INITIAL_RETRY_DELAY`` 0.5 s, ``MAX_RETRY_DELAY`` 8 s) is read from the
  environment once, when litellm is imported: :func:`import_litellm` scales them if litellm is not yet
  imported in the process, else they stay at wall seconds (X times longer in simulated time);
* the minimum of 5 requests (``DEFAULT_FAILURE_THRESHOLD_MINIMUM_REQUESTS``) is a count, not a time: unchanged.

LiteLLM also fetches its model price map from GitHub on import unless ``LITELLM_LOCAL_MODEL_COST_MAP`` is
set: :func:`import_litellm` sets it, so nothing leaves loopback.
"""
from __future__ import annotations

import copy
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from sim.errors import ScenarioError
from sim.live.driver import LIVE_EXTRA, LiveRequest, Reply, Send, sim_headers

#: The Router's own settings taken from router_settings (and the time settings among them, scaled).
ROUTER_SETTINGS = ("routing_strategy", "routing_strategy_args", "num_retries", "retry_after", "timeout",
                   "stream_timeout", "allowed_fails", "allowed_fails_policy", "cooldown_time", "disable_cooldowns",
                   "fallbacks", "context_window_fallbacks", "content_policy_fallbacks", "default_fallbacks",
                   "max_fallbacks", "retry_policy", "model_group_alias")
#: Settings that litellm_settings may give the Router when router_settings does not (LiteLLM's precedence).
LITELLM_LEVEL = ("num_retries", "allowed_fails", "fallbacks", "context_window_fallbacks",
                 "content_policy_fallbacks", "default_fallbacks")
SCALED_SECONDS = ("timeout", "stream_timeout", "retry_after", "cooldown_time")
SCALED_PER_MINUTE = ("rpm", "tpm")
#: litellm_params a deployment keeps (the rest -- keys, api_version, regions, AWS settings -- is dropped).
DEPLOYMENT_PARAMS = ("rpm", "tpm", "timeout", "stream_timeout", "weight", "max_parallel_requests", "order")
DUMMY_API_KEY = "sim-live-no-key"


@dataclass
class RouterArguments:
    """``litellm.Router(**kwargs)``, and the config's settings left out, with why."""

    kwargs: dict[str, Any]
    dropped: list[str] = field(default_factory=list)
    providers: dict[str, str] = field(default_factory=dict)     # deployment id (= provider name) -> model


def router_arguments(litellm_config: dict, base_url: str, speed: float) -> RouterArguments:
    """The Router's arguments for ``litellm_config`` (a parsed proxy config.yaml) in front of ``base_url``
    (``http://127.0.0.1:PORT``, sim serve's root) at ``speed``; plain data, testable without litellm."""
    from sim.importers import ImportOptions, ImportProblem
    from sim.importers.litellm import import_config
    from sim.live.driver import check_loopback
    if not speed > 0:
        raise ScenarioError(f"speed: must be > 0, got {speed}")
    root = check_loopback(base_url)
    try:
        imported = import_config(litellm_config, "litellm_config", ImportOptions())
    except ImportProblem as err:
        raise ScenarioError(str(err)) from None
    providers = iter(imported.scenario["providers"])
    model_list, names = [], {}
    for entry in litellm_config["model_list"]:
        params = entry.get("litellm_params") or {}
        if "*" in str(entry.get("model_name")) or "*" in str(params.get("model")):
            continue                         # a wildcard route: the importer skips it too
        provider = next(providers)
        name, model = provider["name"], provider["models"][0]["name"]
        names[name] = model
        kept = {k: params[k] for k in DEPLOYMENT_PARAMS if params.get(k) is not None}
        model_list.append({"model_name": entry["model_name"],
                           "litellm_params": {**_scaled(kept, speed), "model": f"openai/{model}",
                                              "api_base": f"{root}/{name}/v1", "api_key": DUMMY_API_KEY},
                           "model_info": {"id": name}})
    router = dict(litellm_config.get("router_settings") or {})
    module = dict(litellm_config.get("litellm_settings") or {})
    kwargs: dict[str, Any] = {"model_list": model_list}
    for key in ROUTER_SETTINGS:
        if router.get(key) is not None:
            kwargs[key] = copy.deepcopy(router[key])
        elif key in LITELLM_LEVEL and module.get(key) is not None:
            kwargs[key] = copy.deepcopy(module[key])
    if "timeout" not in kwargs and module.get("request_timeout") is not None:
        kwargs["timeout"] = module["request_timeout"]
    kwargs = _scaled(kwargs, speed)
    if isinstance(kwargs.get("routing_strategy_args"), dict) and "ttl" in kwargs["routing_strategy_args"]:
        kwargs["routing_strategy_args"]["ttl"] = kwargs["routing_strategy_args"]["ttl"] / speed
    dropped = [f"router_settings.{k}" for k in router if k not in ROUTER_SETTINGS]
    dropped += [f"litellm_settings.{k}" for k in module
                if k not in LITELLM_LEVEL and k != "request_timeout"]
    dropped += [str(k) for k in litellm_config if k not in ("model_list", "router_settings", "litellm_settings")]
    return RouterArguments(kwargs, dropped, names)


def _scaled(settings: dict, speed: float) -> dict:
    out = dict(settings)
    for key in SCALED_SECONDS:
        if isinstance(out.get(key), (int, float)) and not isinstance(out[key], bool):
            out[key] = out[key] / speed
    for key in SCALED_PER_MINUTE:
        if isinstance(out.get(key), (int, float)) and not isinstance(out[key], bool):
            out[key] = max(1, int(math.ceil(out[key] * speed)))
    return out


def import_litellm(speed: float = 1.0):
    """``import litellm`` with the live settings: the local price map (no download), and openai-python's
    retry backoff scaled by ``speed`` when this import is the process's first."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    if "litellm" not in sys.modules:
        os.environ.setdefault("INITIAL_RETRY_DELAY", repr(0.5 / speed))
        os.environ.setdefault("MAX_RETRY_DELAY", repr(8.0 / speed))
    try:
        import litellm
    except ImportError:
        raise ScenarioError(f"the LiteLLM Router harness needs litellm, the live mode's optional dependency: "
                            f"{LIVE_EXTRA}") from None
    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm


def router_from_scenario_config(litellm_config: dict, base_url: str, speed: float):
    """A ``litellm.Router`` built from ``litellm_config`` with every deployment calling sim serve at
    ``base_url`` (loopback), its time settings divided by ``speed`` (see the module doc)."""
    args = router_arguments(litellm_config, base_url, speed)
    litellm = import_litellm(speed)
    router = litellm.Router(**args.kwargs)
    _LIVE_ARGUMENTS[id(router)] = args
    return router


#: What each Router built here was given (by id): the provider -> model names, the dropped settings.
_LIVE_ARGUMENTS: dict[int, RouterArguments] = {}


def live_arguments(router) -> RouterArguments | None:
    """The arguments :func:`router_from_scenario_config` built ``router`` from (None for another Router)."""
    return _LIVE_ARGUMENTS.get(id(router))


def litellm_send(router, stream: bool = False) -> Send:
    """A ``send`` for :func:`sim.live.driver.drive` that calls ``router.acompletion`` in process."""
    args = live_arguments(router)
    models = args.providers if args is not None else {}

    async def send(req: LiveRequest) -> Reply:
        headers = {"x-sim-request-id": str(req.request_id)}
        try:
            response = await router.acompletion(model=req.model, messages=req.messages(),
                                                max_tokens=req.output_tokens, stream=req.stream,
                                                extra_headers=headers,
                                                **({"stream_options": {"include_usage": True}} if req.stream else {}))
            reply = await _read_stream(response) if req.stream else _reply_of(response)
            return reply if reply.model else reply._replace(model=models.get(reply.provider, ""))
        except Exception as err:           # LiteLLM raises one exception class per status
            status = int(getattr(err, "status_code", 0) or 0)
            return Reply(_outcome_of_exception(err, status), status, error=type(err).__name__)

    send.stream = stream
    return send


def _outcome_of_exception(err: Exception, status: int) -> str:
    from sim.live.driver import outcome_of_status
    name = type(err).__name__
    if "Timeout" in name:
        return "timeout"
    if "RateLimit" in name:
        return "rate_limited"
    if "ContextWindow" in name:
        return "context_exceeded"
    return outcome_of_status(status, str(err)) if status else "failed"


def _hidden(response) -> tuple[str, dict]:
    hidden = getattr(response, "_hidden_params", None) or {}
    headers = hidden.get("additional_headers") or {}
    return str(hidden.get("model_id") or ""), headers


def _reply_of(response, first_token_at: float = math.nan, output_tokens: int | None = None) -> Reply:
    provider, headers = _hidden(response)
    head = sim_headers(headers)           # serve's x-sim-* headers, as LiteLLM passes them on
    usage = getattr(response, "usage", None)
    marks = getattr(response, "sim", None) or {}
    return Reply("ok", 200,
                 int(getattr(usage, "prompt_tokens", -1) or -1) if usage is not None else -1,
                 output_tokens if output_tokens is not None else
                 (int(getattr(usage, "completion_tokens", -1)) if usage is not None else -1),
                 head["provider"] or provider, head["model"], first_token_at,
                 bool(marks.get("hallucinated", head["hallucinated"])), bool(marks.get("parse_failed", False)))


async def _read_stream(stream) -> Reply:
    first_at, chunks, last = math.nan, 0, None
    async for chunk in stream:
        last = chunk
        for choice in getattr(chunk, "choices", None) or ():
            delta = getattr(choice, "delta", None)
            if delta is not None and getattr(delta, "content", None):
                chunks += 1
                if math.isnan(first_at):
                    first_at = time.monotonic()
    reply = _reply_of(last if last is not None else stream, first_at)
    return reply if reply.output_tokens >= 0 else reply._replace(output_tokens=chunks)


async def drive_litellm(plan, litellm_config: dict, base_url: str, speed: float, concurrency: int,
                        stream: bool = False, on_done=None, align: bool = False):
    """:func:`sim.live.driver.drive` through an in-process Router built from ``litellm_config`` whose
    deployments call ``base_url`` (sim serve's root, ``http://127.0.0.1:PORT``); with ``align``, by the
    server's clock."""
    from sim.live.driver import drive, import_aiohttp, serve_clock
    router = router_from_scenario_config(litellm_config, base_url, speed)
    clock = None
    if align:
        aiohttp = import_aiohttp()
        async with aiohttp.ClientSession() as session:
            clock = await serve_clock(session, base_url, speed)
    return await drive(plan, litellm_send(router, stream), speed, concurrency, on_done, clock)
