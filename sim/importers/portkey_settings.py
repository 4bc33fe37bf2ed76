"""Portkey's resilience settings -- retry, fallback status codes, cache, circuit breaker -- as scenario sections.

:mod:`sim.importers.portkey` walks a config's tree; this module holds what each setting means and where it
lands, with Portkey's defaults where they differ from the simulator's (read from ``Portkey-AI/gateway``:
``src/globals.ts``, ``src/handlers/retryHandler.ts`` ``retryRequest``, ``src/handlers/services/requestContext.ts``,
and Portkey's documentation; ``docs/gateway_import.md`` has the table with every source). Each ``*_section``
function returns the scenario section and reports what it mapped and ignored to a :class:`Report`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.importers import Ignored, ImportProblem, Mapped, shown_value

#: ``RETRY_STATUS_CODES`` in ``src/globals.ts``: what a retry without ``on_status_codes`` retries.
PORTKEY_DEFAULT_RETRY_CODES = (429, 500, 502, 503, 504)
#: Portkey's documented default cache age when ``max_age`` is absent: 7 days.
PORTKEY_CACHE_MAX_AGE_S = 7 * 86400
#: ``MAX_RETRY_LIMIT_MS`` in ``src/globals.ts``: a Retry-After at or beyond it is not waited for.
PORTKEY_MAX_RETRY_AFTER_S = 60.0
#: Portkey's documented floor on ``cb_config.cooldown_interval``.
PORTKEY_MIN_COOLDOWN_S = 30.0
#: The status ``fetchWithTimeout`` gives a call cut by ``request_timeout`` (``REQUEST_TIMEOUT_STATUS_CODE``).
PORTKEY_TIMEOUT_STATUS = 408
#: async-retry's defaults as ``retryRequest`` uses them: ``minTimeout`` 1000 ms, ``factor`` 2, no randomising.
BACKOFF_FIRST_S, BACKOFF_FACTOR = 1.0, 2.0
#: Similarity threshold written for ``cache.mode: semantic`` (Portkey's config has no field for it).
SEMANTIC_THRESHOLD = 0.95
#: ``cache.mode: simple`` is an exact match: only a verbatim repeat (cosine 1 up to rounding) is a hit.
EXACT_MATCH_THRESHOLD = 0.9999


@dataclass
class Report:
    """What an import mapped, ignored and assumed, as it goes."""

    mapped: list[Mapped] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def ignore(self, setting: str, value: Any, reason: str) -> None:
        """List a setting; its value is shown only when it cannot be a credential (``value=None``: never)."""
        key = setting.rsplit(".", 1)[-1]
        self.ignored.append(Ignored(setting, reason, None if value is None else shown_value(key, value)))


# --------------------------------------------------------------------------------------------- checks

def check_status_codes(codes: Any, setting: str) -> list[int]:
    if not isinstance(codes, list) or any(isinstance(c, bool) or not isinstance(c, int) for c in codes):
        raise ImportProblem(f"{setting}: expected a list of HTTP status codes, got {codes!r}")
    return codes


def check_retry(value: Any, setting: str) -> dict:
    if not isinstance(value, dict):
        raise ImportProblem(f"{setting}: expected a mapping with attempts, got {value!r}")
    attempts = value.get("attempts")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
        raise ImportProblem(f"{setting}.attempts: expected a whole number of retries >= 0, got {attempts!r}")
    if "on_status_codes" in value:
        check_status_codes(value["on_status_codes"], f"{setting}.on_status_codes")
    return value


_BREAKER_KEYS = ("failure_threshold", "failure_threshold_percentage", "cooldown_interval", "failure_status_codes",
                 "minimum_requests")


def check_breaker(value: Any, setting: str) -> dict:
    if not isinstance(value, dict):
        raise ImportProblem(f"{setting}: expected a mapping (failure_threshold, cooldown_interval, ...), got {value!r}")
    for key in ("failure_threshold", "minimum_requests"):
        v = value.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ImportProblem(f"{setting}.{key}: expected a whole number >= 0, got {v!r}")
    pct = value.get("failure_threshold_percentage")
    if pct is not None and (isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 < pct <= 100):
        raise ImportProblem(f"{setting}.failure_threshold_percentage: expected a percentage in (0, 100], got {pct!r}")
    wait = value.get("cooldown_interval")
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or wait <= 0:
        raise ImportProblem(f"{setting}.cooldown_interval: expected milliseconds > 0, got {wait!r}")
    if value.get("failure_threshold") is None and pct is None:
        raise ImportProblem(f"{setting}: give failure_threshold or failure_threshold_percentage")
    if "failure_status_codes" in value:
        check_status_codes(value["failure_status_codes"], f"{setting}.failure_status_codes")
    return value


def check_cache(value: Any, setting: str) -> dict:
    if isinstance(value, str):        # Portkey also accepts the mode alone (requestContext.cacheConfig)
        value = {"mode": value}
    if not isinstance(value, dict) or value.get("mode") not in ("simple", "semantic"):
        raise ImportProblem(f"{setting}.mode: expected 'simple' or 'semantic', got "
                            f"{value.get('mode') if isinstance(value, dict) else value!r}")
    age = value.get("max_age")
    if age is not None and (isinstance(age, bool) or not isinstance(age, (int, float)) or age <= 0):
        raise ImportProblem(f"{setting}.max_age: expected seconds > 0, got {age!r}")
    return value


# --------------------------------------------------------------------------------------------- status codes

def fallback_statuses(codes: list[int]) -> tuple[list[str], list[int]]:
    """The simulator's final failures (resilience.fallback_on) a fallback's status codes cover, and the
    codes with no counterpart."""
    statuses, unmatched = [], []
    for code in codes:
        status = {429: "rate_limited", PORTKEY_TIMEOUT_STATUS: "timeout", 400: "context_exceeded",
                  413: "too_large"}.get(code, "error" if 500 <= code <= 599 else None)
        if status is None:
            unmatched.append(code)
        elif status not in statuses:
            statuses.append(status)
    order = ("error", "timeout", "rate_limited", "context_exceeded", "too_large")
    return sorted(statuses, key=order.index), unmatched


def retry_statuses(codes: list[int]) -> tuple[list[str], list[int]]:
    """The attempt outcomes (resilience.retry.retry_on) a retry's status codes cover, and the rest."""
    statuses, unmatched = [], []
    for code in codes:
        status = {429: "rate_limited", PORTKEY_TIMEOUT_STATUS: "timeout", 400: "refused"}.get(
            code, "error" if 500 <= code <= 599 else None)
        if status is None:
            unmatched.append(code)
        elif status not in statuses:
            statuses.append(status)
    order = ("error", "timeout", "rate_limited", "refused")
    return sorted(statuses, key=order.index), unmatched


def unmatched_note(codes: list[int]) -> str:
    return f"; codes with no simulated counterpart: {', '.join(map(str, codes))}" if codes else ""


# --------------------------------------------------------------------------------------------- sections

def retry_section(report: Report, retry: dict | None, path: str | None) -> dict:
    """``retry`` (the primary target's, at ``path``) as ``resilience.retry``: attempts are retries after the
    first call; Portkey's backoff; its default status codes; none = one attempt."""
    if retry is None:
        report.notes.append("no retry in the config: Portkey makes one attempt (attempts default 0, "
                         "requestContext.normalizeRetryConfig); written as resilience.retry.max_attempts: 1")
        return {"max_attempts": 1, "retry_on": []}
    retries = retry["attempts"]
    codes = retry.get("on_status_codes", list(PORTKEY_DEFAULT_RETRY_CODES) if retries else [])
    statuses, unmatched = retry_statuses(codes)
    honour = bool(retry.get("use_retry_after_header", retry.get("use_retry_after_headers", False)))
    section = {"max_attempts": retries + 1, "base_delay_s": BACKOFF_FIRST_S, "multiplier": BACKOFF_FACTOR,
               "max_delay_s": BACKOFF_FIRST_S * BACKOFF_FACTOR ** max(retries - 1, 0), "jitter": "none",
               "honor_retry_after": honour, "max_retry_after_s": PORTKEY_MAX_RETRY_AFTER_S, "retry_on": statuses}
    report.mapped.append(Mapped(f"{path}.attempts", "resilience.retry.max_attempts",
                             f"{retries} retries after the first call = {retries + 1} attempts; backoff 1 s, 2 s, "
                             "4 s ... without jitter (async-retry as retryRequest calls it): base_delay_s 1, "
                             "multiplier 2, jitter none" + ("; Portkey documents at most 5" if retries > 5 else "")))
    report.mapped.append(Mapped(f"{path}.on_status_codes" if "on_status_codes" in retry else f"{path} (default codes)",
                             "resilience.retry.retry_on",
                             f"{codes} -> {statuses} (429 rate_limited, 408 timeout, 5xx error, 400 refused)"
                             f"{unmatched_note(unmatched)}"))
    key = next((k for k in ("use_retry_after_header", "use_retry_after_headers") if k in retry), None)
    report.mapped.append(Mapped(f"{path}.{key}" if key else f"{path} (use_retry_after_header not set)",
                             "resilience.retry.honor_retry_after, max_retry_after_s",
                             f"{honour}; a Retry-After of 60 s or more is not waited for (MAX_RETRY_LIMIT_MS); the "
                             "60 s cap on the total wait is not modelled"))
    for k in retry:
        if k not in ("attempts", "on_status_codes", "use_retry_after_header", "use_retry_after_headers"):
            report.ignore(f"{path}.{k}", retry[k], "not a Portkey retry setting this importer knows")
    return section


def cache_section(report: Report, cache: dict | None, path: str | None) -> dict | None:
    """``cache`` (the primary target's, at ``path``) as the scenario's cache: semantic at the simulator's
    threshold, simple as an exact match, ``max_age`` as the entries' lifetime (default 7 days)."""
    if cache is None:
        return None
    age = cache.get("max_age")
    section = {"enabled": True, "ttl_s": float(age) if age is not None else float(PORTKEY_CACHE_MAX_AGE_S)}
    if cache["mode"] == "semantic":
        section["threshold"] = SEMANTIC_THRESHOLD
        report.mapped.append(Mapped(f"{path}.mode", "cache.enabled, cache.threshold",
                                 f"semantic: cosine >= {SEMANTIC_THRESHOLD} (Portkey's config has no threshold; the "
                                 "simulator's default); Portkey matches only requests of at most 4 messages under "
                                 "8,191 tokens, not modelled"))
    else:
        section.update(threshold=EXACT_MATCH_THRESHOLD, embedding_usd_per_mtok=0.0)
        report.mapped.append(Mapped(f"{path}.mode", "cache.enabled, cache.threshold, cache.embedding_usd_per_mtok",
                                 f"simple = exact match: threshold {EXACT_MATCH_THRESHOLD} (only verbatim repeats "
                                 "hit), no embedding paid; Portkey keys it by request body and provider URL, so a "
                                 "repeat that loadbalance sends to another deployment misses, not modelled"))
    report.mapped.append(Mapped(f"{path}.max_age" if age is not None else f"{path} (max_age not set)", "cache.ttl_s",
                             f"{section['ttl_s']:g} s" + ("" if age is not None else " (Portkey's default: 7 days)")))
    for k in cache:
        if k not in ("mode", "max_age"):
            report.ignore(f"{path}.{k}", cache[k], "not a Portkey cache setting this importer knows")
    return section


def breaker_section(report: Report, breakers: list[tuple[str, dict]], duration_s: float) -> dict | None:
    """Portkey's circuit breaker (``strategy.cb_config``, inherited by the targets below; the first one met
    applies to all): a target opens when its failures exceed ``failure_threshold`` or its failure rate exceeds
    ``failure_threshold_percentage`` (after ``minimum_requests``), and closes by itself after
    ``cooldown_interval`` (at least 30 s) with its counters reset -- no trial calls."""
    if not breakers:
        return None
    path, cb = breakers[0]
    wait_s = max(cb["cooldown_interval"] / 1000.0, PORTKEY_MIN_COOLDOWN_S)
    if cb.get("failure_threshold") is not None:
        section = _count_rule(report, path, cb, wait_s, duration_s)
    else:
        section = _rate_rule(report, path, cb, wait_s)
    codes = cb.get("failure_status_codes")
    section["record_rate_limited"] = codes is not None and 429 in codes
    floor = " raised to Portkey's minimum of 30 s" if cb["cooldown_interval"] < PORTKEY_MIN_COOLDOWN_S * 1000 else ""
    report.mapped.append(Mapped(f"{path}.cooldown_interval", "resilience.breaker.cooldown_s / wait_in_open_s",
                                f"{cb['cooldown_interval']:g} ms{floor}; a target whose breaker is open sits out. "
                                "With every target open Portkey calls them all anyway: the simulator's groups do, "
                                "its chain follows resilience.when_all_open (fail_fast)"))
    counted = "5xx errors and timeouts" + (" and 429s" if section["record_rate_limited"] else "")
    if codes is None or PORTKEY_TIMEOUT_STATUS not in codes:
        counted += " (timeouts although 408 is not listed)"
    report.mapped.append(Mapped(f"{path}.failure_status_codes" if codes is not None else
                                f"{path} (failure_status_codes not set)", "resilience.breaker.record_rate_limited",
                                f"{codes if codes is not None else 'default: every status above 500'}: the "
                                f"simulator's breaker counts {counted}"))
    for key in cb:
        if key not in _BREAKER_KEYS:
            report.ignore(f"{path}.{key}", cb[key], "not a Portkey circuit breaker setting this importer knows")
    for other, cfg in breakers[1:]:
        if cfg == cb:
            report.mapped.append(Mapped(other, "resilience.breaker", f"equal to {path}"))
        else:
            report.ignore(other, cfg, f"the scenario has one breaker setting for every target: {path}'s is used")
    return section


def _count_rule(report: Report, path: str, cb: dict, wait_s: float, duration_s: float) -> dict:
    """``failure_threshold`` as the simulator's cooldown breaker: open on failure threshold + 1, counted over
    the whole run, since Portkey resets its counters only when the circuit closes."""
    threshold = cb["failure_threshold"]
    report.mapped.append(Mapped(f"{path}.failure_threshold", "resilience.breaker.cooldown_failures (mode cooldown)",
                                f"opens when the failures exceed {threshold}: on failure {threshold + 1}; Portkey "
                                "resets its counters only when the circuit closes, so the counting window is the "
                                "whole run"))
    for key in ("failure_threshold_percentage", "minimum_requests"):
        if cb.get(key) is not None:
            report.ignore(f"{path}.{key}", cb[key], "the simulator's cooldown breaker counts failures only: the "
                                                    "failure_threshold rule is used")
    return {"mode": "cooldown", "cooldown_failures": threshold + 1, "cooldown_window_s": duration_s,
            "cooldown_s": wait_s}


def _rate_rule(report: Report, path: str, cb: dict, wait_s: float) -> dict:
    """``failure_threshold_percentage`` as the resilience4j-style breaker over the last calls."""
    pct, least = cb["failure_threshold_percentage"], cb.get("minimum_requests") or 1
    report.mapped.append(Mapped(f"{path}.failure_threshold_percentage", "resilience.breaker.failure_rate_threshold",
                                f"{pct}% -> {pct / 100:g}, over the last max(minimum_requests, 100) calls (Portkey: "
                                "since the circuit last closed); Portkey closes after cooldown_interval without "
                                "trial calls, here after one trial call"))
    if "minimum_requests" in cb:
        report.mapped.append(Mapped(f"{path}.minimum_requests", "resilience.breaker.minimum_calls"))
    return {"mode": "breaker", "window_type": "count", "window_size": max(least, 100), "minimum_calls": least,
            "failure_rate_threshold": pct / 100.0, "wait_in_open_s": wait_s, "permitted_calls_in_half_open": 1}
