"""Policies: the gateway's decisions as plain state machines, with no SimPy inside.

Each takes time as an argument or through an injected clock (a callable returning seconds), keeps its own
state, and is unit-tested without a simulation, so a team could lift it into a real gateway:

    from sim.policies import CircuitBreaker, BreakerConfig
    breaker = CircuitBreaker(BreakerConfig(window_type="count", window_size=50, minimum_calls=20), clock=time.monotonic)

A policy's settings are a frozen dataclass declared once (default, bounds, unit, description; see
``_validation.py``); the scenario's ``resilience`` sections are those same dataclasses, so what a scenario
file says reaches the policy as the very object it validated.
"""
from sim.policies.breaker import BreakerConfig, CircuitBreaker
from sim.policies.kill_switch import BudgetKillSwitch, KillSwitchConfig
from sim.policies.rate_limits import ProviderRateLimits
from sim.policies.retry import RetryConfig, RetryPolicy
from sim.policies.router import Router
from sim.policies.semantic_cache import SemanticCache
from sim.policies.shadow_evaluator import ShadowConfig, ShadowEvaluator
from sim.policies.token_bucket import KeyedTokenBuckets, TokenBucket

__all__ = ["BreakerConfig", "BudgetKillSwitch", "CircuitBreaker", "KeyedTokenBuckets", "KillSwitchConfig",
           "ProviderRateLimits", "RetryConfig", "RetryPolicy", "Router", "SemanticCache", "ShadowConfig", "ShadowEvaluator",
           "TokenBucket"]
