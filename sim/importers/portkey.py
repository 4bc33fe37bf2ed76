"""Import a Portkey gateway config (the JSON attached to requests as ``x-portkey-config``) as a scenario.

A Portkey config is a tree. Each node either calls one provider (a *leaf*: ``provider`` + ``api_key``, a
``virtual_key``, or an ``@slug`` from the model catalog, usually with ``override_params.model``) or holds
``targets`` and a ``strategy``: ``fallback`` tries them in order and moves on while the response's status
is in ``strategy.on_status_codes`` (without codes: while it is not 2xx); ``loadbalance`` picks one by
``weight`` (missing = 1); ``single`` takes the first; ``conditional`` picks by request metadata. ``retry``,
``cache`` and ``request_timeout`` may sit on any node and are inherited by the nodes below it (a target's
own ``retry`` or ``cache`` replaces the inherited one; ``override_params`` are merged). The semantics are
read from the gateway's source, ``src/handlers/handlerUtils.ts`` ``tryTargetsRecursively`` and
``src/handlers/retryHandler.ts`` ``retryRequest`` (see ``docs/gateway_import.md`` for every source).

The simulator's routing is flatter: a chain of targets (each a deployment or a model group) walked on
failure, one retry policy, one cache in front of everything. The importer maps the tree onto it:

* each leaf becomes one provider section (one deployment: its own limits and faults), named after its
  virtual key or catalog slug, with the model found in the catalogue (``override_params.model``);
* a ``loadbalance`` node becomes a model group with strategy ``portkey-loadbalance`` and the weights in
  order; a ``loadbalance`` inside it is folded in (its shares multiplied, which is exact for the pick);
* ``fallback`` nodes become ``routing.chain`` in target order with ``resilience.fallback``, and their
  status codes ``resilience.fallback_on``;
* what the scenario cannot say exactly (a fallback inside a loadbalance, retries that differ by target,
  a conditional router) is flattened to the closest form and the caveat written beside the mapping.

Every key of the config ends up in the result: mapped (with the scenario field) or ignored (with why).
Credentials (``api_key``, AWS and Vertex secrets) are never read into the result.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.importers import (PROXY_GATEWAY, PROXY_GATEWAY_NOTE, Ignored, ImportOptions, ImportProblem, ImportResult,
                           Mapped, catalogue_entry, imported_traffic)
from sim.importers.portkey_settings import (
    Report, breaker_section, cache_section, check_breaker, check_cache, check_retry, check_status_codes,
    fallback_statuses, retry_section, unmatched_note)

__all__ = ["import_config", "catalogue_id"]

#: The workload written when the user gives none: a placeholder, said so in the file.

MODES = ("fallback", "loadbalance", "single", "conditional")

# Keys of a node that Portkey reads and the simulator has no counterpart for, with what they do.
_IGNORED_KEYS = {
    "api_key": "the provider's credential: the simulator calls no provider (never copied)",
    "aws_secret_access_key": "an AWS credential (never copied)",
    "aws_access_key_id": "an AWS credential (never copied)",
    "aws_session_token": "an AWS credential (never copied)",
    "vertex_service_account_json": "a Google credential (never copied)",
    "vertex_project_id": "the Google project billed; changes no traffic",
    "openai_project": "the OpenAI project billed; changes no traffic",
    "openai_organization": "the OpenAI organisation billed; changes no traffic",
    "azure_auth_mode": "how the gateway authenticates to Azure; changes no traffic",
    "custom_host": "the URL the gateway calls (a self-hosted model or a proxy); latency and errors are the "
                   "provider section's",
    "forward_headers": "headers passed through to the provider; changes no traffic",
    "strict_open_ai_compliance": "the response's format; changes no traffic",
    "before_request_hooks": "guardrail or mutator checks before the call; the simulator has no guardrails "
                            "(a denied request would not reach a provider)",
    "after_request_hooks": "guardrail checks on the answer (a failed check can deny or retry); not modelled",
    "input_guardrails": "guardrail checks before the call; not modelled",
    "output_guardrails": "guardrail checks on the answer; not modelled",
    "metadata": "labels for logs and conditional routing; changes no traffic here",
    "name": "a target's label (conditional routing refers to it); the deployment is named after its key",
    "on_status_codes": "on a target, not read by tryTargetsRecursively: only strategy.on_status_codes decides "
                       "a fallback",
}
_CREDENTIAL_KEYS = {"api_key", "aws_secret_access_key", "aws_access_key_id", "aws_session_token",
                    "vertex_service_account_json"}
_INHERITED = ("retry", "cache", "request_timeout", "override_params")


# --------------------------------------------------------------------------------------------- the tree

@dataclass
class _Leaf:
    """One provider call of the config: one deployment of the scenario."""

    path: str
    name: str
    model: str                  # catalogue id: the scenario's model name
    settings: dict              # retry, cache, request_timeout, override_params as inherited (Portkey's merge)
    region: str | None = None   # aws_region / vertex_region


@dataclass
class _Group:
    """A loadbalance: deployments and their shares of the picks."""

    path: str
    members: list[tuple[_Leaf, float]]
    raw_weights: list[float] | None = None     # the config's own weights when nothing was folded in
    name: str = ""


@dataclass
class _Importer(Report):
    """The walk over one config's tree: the leaves found, the fallback strategies and breakers met on the way,
    the deployment names taken; what was mapped and ignored (:class:`Report`)."""

    options: ImportOptions = field(default_factory=ImportOptions)
    leaves: list[_Leaf] = field(default_factory=list)
    fallback_nodes: list[tuple[str, list[int] | None]] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    breakers: list[tuple[str, dict]] = field(default_factory=list)

    # ---------------------------------------------------------------------------------------- walking

    def node(self, node: Any, path: str, inherited: dict) -> list[_Leaf | _Group]:
        """The chain entries a node stands for (Portkey's tryTargetsRecursively, flattened)."""
        if not isinstance(node, dict):
            raise ImportProblem(f"{path or 'config'}: expected a mapping of settings, got {type(node).__name__}")
        settings = self.inherit(node, path, inherited)
        strategy = node.get("strategy")
        targets = node.get("targets")
        self.ignore_unknown(node, path)
        if strategy is None and targets is None:
            return [self.leaf(node, path, settings)]
        mode = self.mode(strategy, path)
        if not isinstance(targets, list) or not targets:
            raise ImportProblem(f"{_at(path, 'targets')}: strategy {mode!r} needs a non-empty list of targets")
        if mode == "fallback":
            return self.fallback(node, path, targets, settings)
        if mode == "loadbalance":
            return self.loadbalance(path, targets, settings)
        if mode == "single":
            for i in range(1, len(targets)):
                self.ignored.append(Ignored(_at(path, f"targets[{i}]"), "strategy single calls targets[0] only "
                                            "(tryTargetsRecursively, SINGLE)"))
            self.mapped.append(Mapped(_at(path, "strategy.mode"), "the first target only", "single"))
            return self.node(targets[0], _at(path, "targets[0]"), settings)
        return self.conditional(node, path, targets, settings)

    def mode(self, strategy: Any, path: str) -> str:
        if not isinstance(strategy, dict):
            raise ImportProblem(f"{_at(path, 'strategy')}: targets need a strategy mapping with a mode "
                                f"({', '.join(MODES)})")
        mode = strategy.get("mode")
        if mode not in MODES:
            raise ImportProblem(f"{_at(path, 'strategy.mode')}: {mode!r} is not one of {', '.join(MODES)}")
        for key in strategy:
            if key not in ("mode", "on_status_codes", "conditions", "default", "cb_config"):
                self.ignore(_at(path, f"strategy.{key}"), strategy[key], "not a Portkey strategy setting this "
                                                                          "importer knows")
        if "cb_config" in strategy:
            self.breakers.append((_at(path, "strategy.cb_config"), check_breaker(strategy["cb_config"],
                                                                                  _at(path, "strategy.cb_config"))))
        if "on_status_codes" in strategy and mode != "fallback":
            self.ignore(_at(path, "strategy.on_status_codes"), strategy["on_status_codes"],
                        f"read only by a fallback strategy, not by {mode}")
        return mode

    def fallback(self, node: dict, path: str, targets: list, settings: dict) -> list[_Leaf | _Group]:
        codes = node["strategy"].get("on_status_codes")
        if codes is not None:
            codes = check_status_codes(codes, _at(path, "strategy.on_status_codes"))
        self.fallback_nodes.append((path, codes))
        entries: list[_Leaf | _Group] = []
        for i, child in enumerate(targets):
            child_path = _at(path, f"targets[{i}]")
            if isinstance(child, dict) and "weight" in child:
                self.ignore(_at(child_path, "weight"), child["weight"], "a weight under a fallback: Portkey reads "
                                                                        "weights only in loadbalance")
            entries += self.node(child, child_path, settings)
        return entries

    def loadbalance(self, path: str, targets: list, settings: dict) -> list[_Leaf | _Group]:
        weights = [_weight(t, _at(path, f"targets[{i}]")) for i, t in enumerate(targets)]
        total = sum(weights)
        if not total > 0:
            raise ImportProblem(f"{_at(path, 'targets')}: every weight is 0, so Portkey's loadbalance picks no "
                                "target; give at least one a positive weight")
        members: list[tuple[_Leaf, float]] = []
        spill: list[_Leaf | _Group] = []
        folded = False
        for i, (child, w) in enumerate(zip(targets, weights)):
            child_path = _at(path, f"targets[{i}]")
            entries = self.node(child, child_path, settings)
            first, rest = entries[0], entries[1:]
            if isinstance(first, _Group):
                folded = True
                members += [(leaf, share * w / total) for leaf, share in first.members]
                for setting in ("strategy.mode", "targets[*].weight"):
                    self.mapped.append(Mapped(_at(child_path, setting), "the enclosing group's weights",
                                              "a nested loadbalance folded in: shares multiplied (exact for the "
                                              "pick)"))
            else:
                members.append((first, w / total))
            if rest:
                spill += rest
                self.mapped.append(Mapped(child_path, "its first target in the group, the rest after the group "
                                          "in routing.chain", "approximation: a fallback inside a loadbalance; in "
                                          "Portkey only the requests that picked this target reach its fallbacks, "
                                          "here every request that the whole group fails does"))
        if len(members) == 1:
            self.mapped.append(Mapped(_at(path, "strategy.mode"), "routing.chain", "a loadbalance of one target: "
                                      "that target"))
            return [members[0][0], *spill]
        group = _Group(path, members, None if folded else [float(w) for w in weights])
        return [group, *spill]

    def conditional(self, node: dict, path: str, targets: list, settings: dict) -> list[_Leaf | _Group]:
        strategy = node["strategy"]
        chosen, why = 0, "the first target"
        default = strategy.get("default")
        if default is not None:
            named = [i for i, t in enumerate(targets) if isinstance(t, dict) and t.get("name") == default]
            if not named:
                raise ImportProblem(f"{_at(path, 'strategy.default')}: no target is named {default!r}")
            chosen, why = named[0], f"the default target {default!r}"
            self.mapped.append(Mapped(_at(path, "strategy.default"), f"routing.chain (targets[{chosen}])"))
        self.ignore(_at(path, "strategy.conditions"), strategy.get("conditions"),
                    f"conditional routing picks by request metadata or parameters, which simulated requests do not "
                    f"carry: every request goes to {why}")
        for i in range(len(targets)):
            if i != chosen:
                self.ignored.append(Ignored(_at(path, f"targets[{i}]"), f"a conditional target other than {why}"))
        self.mapped.append(Mapped(_at(path, "strategy.mode"), f"targets[{chosen}] only",
                                  f"conditional: {why} serves every request"))
        return self.node(targets[chosen], _at(path, f"targets[{chosen}]"), settings)

    # ---------------------------------------------------------------------------------------- settings

    def inherit(self, node: dict, path: str, inherited: dict) -> dict:
        """Portkey's merge: a node's own retry or cache replaces the inherited one, request_timeout overrides
        it, override_params are merged key by key (tryTargetsRecursively)."""
        settings = dict(inherited)
        if "retry" in node:
            settings["retry"] = check_retry(node["retry"], _at(path, "retry"))
            settings["retry_path"] = _at(path, "retry")
        if "cache" in node:
            settings["cache"] = check_cache(node["cache"], _at(path, "cache"))
            settings["cache_path"] = _at(path, "cache")
        if node.get("request_timeout"):
            value = node["request_timeout"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ImportProblem(f"{_at(path, 'request_timeout')}: expected milliseconds > 0, got {value!r}")
            settings["request_timeout"] = float(value)
            settings["request_timeout_path"] = _at(path, "request_timeout")
        if "override_params" in node:
            params = node["override_params"]
            if not isinstance(params, dict):
                raise ImportProblem(f"{_at(path, 'override_params')}: expected a mapping, got {params!r}")
            settings["override_params"] = {**settings.get("override_params", {}), **params}
            settings.setdefault("override_paths", {})
            settings["override_paths"] = {**settings["override_paths"],
                                          **{k: _at(path, f"override_params.{k}") for k in params}}
        return settings

    def ignore_unknown(self, node: dict, path: str) -> None:
        known = {"strategy", "targets", "weight", "provider", "virtual_key", "aws_region", "vertex_region",
                 "azure_model_name", *_INHERITED}
        for key, value in node.items():
            if key in known:
                continue
            reason = _IGNORED_KEYS.get(key, "not a Portkey config setting this importer knows; not modelled")
            self.ignore(_at(path, key), None if key in _CREDENTIAL_KEYS else value, reason)

    # ---------------------------------------------------------------------------------------- leaves

    def leaf(self, node: dict, path: str, settings: dict) -> _Leaf:
        params = settings.get("override_params", {})
        paths = settings.get("override_paths", {})
        written = params.get("model") or node.get("azure_model_name") or self.options.model
        where = paths.get("model") or (_at(path, "azure_model_name") if node.get("azure_model_name") else None)
        if not written:
            raise ImportProblem(f"{path or 'config'}: no model for this target: set override_params.model "
                                "(e.g. gpt-4o) or pass --model with the model the requests ask for")
        if not isinstance(written, str):
            raise ImportProblem(f"{where or '--model'}: expected a model name, got {written!r}")
        model = catalogue_id(written)
        if model is None:
            from sim.provider_catalogue import load_catalogue
            raise ImportProblem(f"{where or '--model'}: {written!r} (target {path or 'config'}) matches no model of "
                                f"the catalogue ({', '.join(load_catalogue().model_names())}); name one of them "
                                "(python -m sim catalogue models)")
        name = self.deployment_name(node, path, written)
        region = next((node[k] for k in ("aws_region", "vertex_region") if isinstance(node.get(k), str)), None)
        leaf = _Leaf(path, name, model, settings, region)
        self.leaves.append(leaf)
        for key in ("virtual_key", "provider"):
            if key in node:
                self.mapped.append(Mapped(_at(path, key), f"providers[{name}]", "one deployment"))
        if node.get("azure_model_name") and where != _at(path, "azure_model_name"):
            self.ignore(_at(path, "azure_model_name"), node["azure_model_name"], "override_params.model names the "
                                                                                 "model")
        self.mapped.append(Mapped(where or "--model", f"providers[{name}].models[{model}]",
                                  f"{written!r} -> catalogue {model!r}" if written != model else "catalogue"))
        for key, value in params.items():
            if key != "model":
                self.override_param(key, value, paths.get(key, f"override_params.{key}"), leaf)
        for key in ("aws_region", "vertex_region"):
            if node.get(key):
                self.mapped.append(Mapped(_at(path, key), f"providers[{name}].region"))
        return leaf

    def override_param(self, key: str, value: Any, setting: str, leaf: _Leaf) -> None:
        if key in ("max_tokens", "max_completion_tokens"):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ImportProblem(f"{setting}: expected a token count > 0, got {value!r}")
            self.mapped.append(Mapped(setting, f"providers[{leaf.name}].models[{leaf.model}].requested_max_tokens"))
            return
        self.ignore(setting, value, "a request parameter the gateway sets on the call; the simulator draws "
                                    "tokens from the workload and models no sampling parameters")

    def deployment_name(self, node: dict, path: str, model: str) -> str:
        """A provider section name: the virtual key's or catalog slug's, else the provider's and a number."""
        slug = model[1:].split("/", 1)[0] if model.startswith("@") and "/" in model else None
        candidates = [node.get("virtual_key"), node.get("provider") if str(node.get("provider", "")).startswith("@")
                      else None, slug]
        base = next((_sanitise(c) for c in candidates if _usable_name(c)), "")
        if not base:
            base = f"{_sanitise(str(node.get('provider') or 'target'))}-{len(self.leaves) + 1}"
        name, n = base, 2
        while name in self.names:
            name, n = f"{base}-{n}", n + 1
        self.names.add(name)
        return name


# --------------------------------------------------------------------------------------------- checks

def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _weight(target: Any, path: str) -> float:
    value = target.get("weight", 1) if isinstance(target, dict) else 1
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ImportProblem(f"{path}.weight: expected a number >= 0, got {value!r}")
    return float(value)


_CREDENTIAL_LIKE = re.compile(r"^(sk-|os\.environ/)|^[A-Za-z0-9+/=_-]{40,}$")


def _usable_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip("@")) and not _CREDENTIAL_LIKE.search(value.strip("@"))


def _sanitise(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", value.strip("@")).strip("-.")[:60]


#: The catalogue model a Portkey model id names (``@openai-prod/gpt-4o`` -> ``gpt-4o``), or None.
catalogue_id = catalogue_entry


# --------------------------------------------------------------------------------------------- scenario

def import_config(config: dict, source: str, options: ImportOptions) -> ImportResult:
    """Map a Portkey config to a scenario; every key is either mapped or listed as ignored."""
    if not isinstance(config, dict):
        raise ImportProblem(f"config: expected a mapping of settings, got {type(config).__name__}")
    imp = _Importer(options=options)
    entries = imp.node(config, "", {})
    _name_groups(entries, imp.names)
    primary = entries[0].members[0][0] if isinstance(entries[0], _Group) else entries[0]
    scenario: dict[str, Any] = {"name": _scenario_name(options, source),
                                "description": f"Imported from the Portkey config {Path(source).name}"}
    scenario.update(_workload(options, imp.notes))
    scenario["gateway"] = dict(PROXY_GATEWAY)
    imp.notes.append(PROXY_GATEWAY_NOTE)
    scenario["providers"] = _providers(imp)
    scenario["routing"] = _routing(entries, imp)
    _report_per_target(imp, primary, "cache", "cache",
                       "the simulator has one cache in front of every target: the primary target's")
    cache = cache_section(imp, primary.settings.get("cache"), primary.settings.get("cache_path"))
    if cache:
        scenario["cache"] = cache
    scenario["resilience"] = _resilience(imp, entries, primary)
    breaker = breaker_section(imp, imp.breakers, scenario["duration"])
    if breaker:
        scenario["resilience"]["breaker"] = breaker
    imp.notes.append("Portkey configs carry no provider rate limits: the deployments have none (unlimited). Add "
                     "your keys' limits per provider section (limits.requests_per_min, tokens_per_min, or a "
                     "catalogue preset: limits.preset) for rate limiting to show.")
    # settings inherited by several targets are reported once
    return ImportResult("portkey", source, scenario, list(dict.fromkeys(imp.mapped)),
                        list(dict.fromkeys(imp.ignored)), imp.notes)


def _scenario_name(options: ImportOptions, source: str) -> str:
    if options.name:
        return options.name
    return _sanitise(Path(source).stem) or "portkey"


def _workload(options: ImportOptions, notes: list[str]) -> dict:
    workload, duration, where = imported_traffic(options)
    notes.append(where)
    return {"duration": duration, "workload": workload}


def _name_groups(entries: list, taken: set[str]) -> None:
    for entry in entries:
        if isinstance(entry, _Group):
            models = {leaf.model for leaf, _ in entry.members}
            base = models.pop() if len(models) == 1 else "loadbalance"
            name, n = base, 2
            while name in taken:
                name, n = f"{base}-{n}", n + 1
            entry.name = name
            taken.add(name)


def _target(leaf: _Leaf) -> str:
    return f"{leaf.name}/{leaf.model}"


def _providers(imp: _Importer) -> list[dict]:
    providers, untimed, timed = [], [], {}
    for leaf in imp.leaves:
        model: dict[str, Any] = {"name": leaf.model, "catalogue": leaf.model}
        timeout_ms = leaf.settings.get("request_timeout")
        if timeout_ms:
            model["timeout_s"] = timeout_ms / 1000.0
            timed.setdefault((leaf.settings["request_timeout_path"], timeout_ms), []).append(leaf.name)
        else:
            untimed.append(leaf.name)
        tokens = leaf.settings.get("override_params", {}).get("max_tokens") or \
            leaf.settings.get("override_params", {}).get("max_completion_tokens")
        if tokens:
            model["requested_max_tokens"] = tokens
        section: dict[str, Any] = {"name": leaf.name}
        if leaf.region:
            section["region"] = leaf.region
        section["models"] = [model]
        providers.append(section)
    for (path, timeout_ms), names in timed.items():
        imp.mapped.append(Mapped(path, f"providers[{', '.join(names)}].models[*].timeout_s",
                                 f"{timeout_ms:g} ms -> {timeout_ms / 1000:g} s, per attempt: a call cut by it is a "
                                 "408 (fetchWithTimeout), retried or passed to the fallback only if 408 is in their "
                                 "status codes"))
    if untimed:
        imp.notes.append(f"no request_timeout for {', '.join(untimed)}: Portkey sets none of its own; the "
                         "simulator's call timeout (60 s) stands for the provider's or client's")
    return providers



def _routing(entries: list, imp: _Importer) -> dict:
    chain = [entry.name if isinstance(entry, _Group) else _target(entry) for entry in entries]
    routing: dict[str, Any] = {"chain": chain}
    groups = {}
    for group in (e for e in entries if isinstance(e, _Group)):
        weights = group.raw_weights or [round(share, 6) for _, share in group.members]
        groups[group.name] = {"deployments": [_target(leaf) for leaf, _ in group.members], "weights": weights,
                              "load_balancing": {"strategy": "portkey-loadbalance"}}
        imp.mapped.append(Mapped(_at(group.path, "strategy.mode"), f"routing.groups[{group.name}]",
                                 "loadbalance -> strategy portkey-loadbalance (no cooldown)"))
        imp.mapped.append(Mapped(_at(group.path, "targets[*].weight"), f"routing.groups[{group.name}].weights",
                                 f"{weights} in the order of the deployments (missing = 1); a retry picks again by "
                                 "weight, where Portkey retries the target it picked"))
    if groups:
        routing["groups"] = groups
    if imp.fallback_nodes:
        _fallback_rows(imp, chain)
        outer, codes = imp.fallback_nodes[0]
        if len(chain) > 1 and (codes is None or 400 in codes):
            routing["content_policy_fallbacks"] = chain[1:]
            imp.mapped.append(Mapped(_at(outer, "strategy.on_status_codes") if codes else
                                     _at(outer, "strategy.mode"), "routing.content_policy_fallbacks",
                                     "a content-filter refusal is a 400, which this fallback moves past: the rest of "
                                     "the chain after a refusal"))
    return routing


def _resilience(imp: _Importer, entries: list, primary: _Leaf) -> dict:
    _report_per_target(imp, primary, "retry", "resilience.retry",
                       "the simulator has one retry policy: the primary target's")
    resilience: dict[str, Any] = {"retry": retry_section(imp, primary.settings.get("retry"),
                                                         primary.settings.get("retry_path"))}
    if len(entries) > 1:
        resilience["fallback"] = True
        path, codes = imp.fallback_nodes[0]
        setting = _at(path, "strategy.on_status_codes")
        if codes is None:
            resilience["fallback_on"] = ["error", "timeout", "rate_limited", "context_exceeded", "too_large"]
            imp.notes.append(f"{setting} not given: Portkey falls back on every response that is not 2xx "
                             "(tryTargetsRecursively); written as every failure in resilience.fallback_on")
        else:
            statuses, unmatched = fallback_statuses(codes)
            resilience["fallback_on"] = statuses
            imp.mapped.append(Mapped(setting, "resilience.fallback_on",
                                     f"{codes} -> {statuses} (429 rate_limited, 408 timeout, 5xx error, 400 "
                                     f"context_exceeded, 413 too_large){unmatched_note(unmatched)}"))
    return resilience


def _fallback_rows(imp: _Importer, chain: list[str]) -> None:
    """The fallback strategies' rows: the outermost's mode is the chain (its codes are fallback_on), nested
    ones are flattened into it, and their codes either agree with the outermost's or are listed."""
    (outer, codes), nested = imp.fallback_nodes[0], imp.fallback_nodes[1:]
    if len(chain) > 1:
        imp.mapped.append(Mapped(_at(outer, "strategy.mode"), "routing.chain, resilience.fallback: true",
                                 f"fallback: {' -> '.join(chain)}"))
    else:
        imp.mapped.append(Mapped(_at(outer, "strategy.mode"), "routing.chain", "a fallback with one target: nothing "
                                 "to fall back to"))
        if codes is not None:
            imp.ignore(_at(outer, "strategy.on_status_codes"), codes, "a fallback with one target never falls back")
    for path, own in nested:
        imp.mapped.append(Mapped(_at(path, "strategy.mode"), "routing.chain", "a nested fallback, flattened into "
                                 "the chain"))
        if own is None:
            continue
        if own == codes:
            imp.mapped.append(Mapped(_at(path, "strategy.on_status_codes"), "resilience.fallback_on",
                                     "equal to the outermost fallback's"))
        else:
            imp.ignore(_at(path, "strategy.on_status_codes"), own, "the scenario has one fallback_on: the outermost "
                       f"fallback's ({codes or 'every non-2xx'}) applies")


def _report_per_target(imp: _Importer, primary: _Leaf, what: str, to: str, rule: str) -> None:
    """Settings of this kind on other targets than the primary's: the same one (mapped through it), an equal
    copy (mapped), or a different one (listed: the scenario has one)."""
    mine = primary.settings.get(f"{what}_path")
    seen = {mine}
    for leaf in imp.leaves:
        path = leaf.settings.get(f"{what}_path")
        if path in seen:
            continue
        seen.add(path)
        if leaf.settings.get(what) == primary.settings.get(what):
            imp.mapped.append(Mapped(path, to, f"equal to the primary target's {what}"))
        else:
            imp.ignore(path, leaf.settings.get(what), f"{what} of {leaf.name} differs from the primary target's; "
                                                       f"{rule} ({mine or 'none'}) applies to every target")
