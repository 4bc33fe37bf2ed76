"""Model groups in the request path: several deployments behind one model name, one picked per attempt.

A chain entry may name a group (``routing.groups``) instead of one ``provider/model`` target. Each attempt
of a call on the group asks the group's :class:`sim.policies.load_balancer.DeploymentPicker` for a
deployment (a target: a provider section with its own keys, limits and faults), then runs the attempt on
it exactly as on a plain target; its outcome goes back to the picker (LiteLLM's in-flight counts, usage,
latencies and cooldowns). A retry asks again, so it may land on another deployment (LiteLLM's retry in the
same model group); fallback moves to the next chain entry. The uniform draw of each pick comes from the
group's own named stream, so adding a group reshuffles no other draw.

Status codes as the picker sees them: an error 500, a timeout 408, a 429 with its Retry-After, a refusal
(content filter) 400, a call too large 413, one over the context window 400. A deployment whose circuit
breaker (``resilience.breaker``, per target) is open sits out the pick; with ``portkey-loadbalance`` that
breaker is the only one (Portkey has no LiteLLM cooldown, so the group's cooldown is off).
"""
from __future__ import annotations

import dataclasses

from sim.model.providers import CONTEXT_EXCEEDED, ERROR, OK, RATE_LIMITED, REFUSED, TIMEOUT, TOO_LARGE, Target
from sim.policies.load_balancer import Deployment, DeploymentPicker, NoDeploymentAvailable

STATUS_CODE = {ERROR: 500, TIMEOUT: 408, RATE_LIMITED: 429, REFUSED: 400, TOO_LARGE: 413, CONTEXT_EXCEEDED: 400}


class DeploymentGroup:
    """One model group of a run: its targets, its picker and the draws that feed it."""

    def __init__(self, name: str, group_config, targets: list[Target], scenario, clock, uniform):
        self.name = name
        self.targets = targets
        self.target_of = {t.label: t for t in targets}
        weights = group_config.weights or [None] * len(targets)
        deployments = []
        for target, weight in zip(targets, weights):
            provider = scenario.provider(target.provider.name)
            limits = provider.limits.per_minute(provider.api_keys)
            deployments.append(Deployment(id=target.label, weight=weight,
                                          rpm=int(limits["rpm"]) if limits["rpm"] else None,
                                          tpm=int(limits["tpm"]) if limits["tpm"] else None))
        self.transitions = []
        settings = group_config.load_balancing
        if settings.strategy == "portkey-loadbalance":     # Portkey has no LiteLLM cooldown (its breaker is
            settings = dataclasses.replace(settings, disable_cooldowns=True)   # resilience.breaker per target)
        self.picker = DeploymentPicker(deployments, settings, clock,
                                       on_transition=self.transitions.append)
        self._u = uniform

    def pick(self, input_tokens: int, failed: dict[str, int], unavailable=()) -> Target | None:
        """The target of this attempt, or None when the group has no deployment to offer (LiteLLM's
        "No deployments available", answered to the caller as a 429). ``unavailable``: deployments out of
        rotation for another reason (their circuit breaker is open: Portkey's own breaker works so)."""
        try:
            deployment = self.picker.pick(self._u(), input_tokens=input_tokens, failed=failed,
                                          unavailable=unavailable)
        except NoDeploymentAvailable:
            return None
        return self.target_of[deployment.id]

    def started(self, target: Target) -> bool:
        return self.picker.call_started(target.label)

    def finished(self, target: Target, status: int, duration_s: float, tokens: int, output_tokens: int,
                 retry_after_s: float | None) -> int | None:
        """Tell the picker how the attempt on ``target`` ended; the HTTP status it was told of a failure
        (None for an answer), which the caller keeps as the request's failure on that deployment."""
        if status == OK:
            self.picker.call_succeeded(target.label, duration_s, total_tokens=tokens, completion_tokens=output_tokens)
            return None
        code = STATUS_CODE[status]
        self.picker.call_failed(target.label, code, timed_out=status == TIMEOUT, retry_after_s=retry_after_s)
        return code
