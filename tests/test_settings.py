"""One definition per setting: the scenario's resilience sections are the policies' own config dataclasses.

What `check` accepts, `run` can build; what it rejects, it rejects with exit 2 and the field named, in the
same words as the policy itself when it is built directly in Python.
"""
import dataclasses
import math
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sim.cli import main
from sim.config import BreakerSettings, ResilienceConfig, ShadowSettings, format_validation_error
from sim.policies._validation import SettingError
from sim.policies.breaker import BreakerConfig, CircuitBreaker
from sim.policies.kill_switch import BudgetKillSwitch, KillSwitchConfig
from sim.policies.retry import RetryConfig, RetryPolicy
from sim.policies.shadow_evaluator import ShadowConfig, ShadowEvaluator
from tests.conftest import EXPERIMENTS

OUTAGE = str(EXPERIMENTS / "outage_replay.yaml")
SHADOW_TARGET = "openai/gpt-4o"        # a target of outage_replay.yaml

# --set override, the field the message must name. With the old pydantic copies of the sections, 19 of these
# passed `check` and then crashed `run` (or, for booleans, were silently read as numbers); the rest (NaN, 1e20)
# guard what the old schema already caught.
BAD_SETTINGS = [
    ("resilience.breaker.failure_rate_threshold=0", "resilience.breaker.failure_rate_threshold"),
    ("resilience.breaker.hallucination_rate_threshold=0", "resilience.breaker.hallucination_rate_threshold"),
    ("resilience.breaker.parse_failure_rate_threshold=0", "resilience.breaker.parse_failure_rate_threshold"),
    ("resilience.breaker.slow_call_rate_threshold=.nan", "resilience.breaker.slow_call_rate_threshold"),
    ("resilience.breaker.wait_in_open_s=.inf", "resilience.breaker.wait_in_open_s"),
    ("resilience.breaker.slow_call_duration_s=.inf", "resilience.breaker.slow_call_duration_s"),
    ("resilience.breaker.cost_per_request_threshold_usd=.inf", "resilience.breaker.cost_per_request_threshold_usd"),
    ("resilience.breaker.window_size=100000000000000000000", "resilience.breaker.window_size"),
    ("resilience.breaker.window_size=1e20", "resilience.breaker.window_size"),
    ("resilience.breaker.minimum_calls=true", "resilience.breaker.minimum_calls"),
    ("resilience.breaker.detector_recall=.nan", "resilience.breaker.detector_recall"),
    ("resilience.breaker.failure_rate_threshold=true", "resilience.breaker.failure_rate_threshold"),
    ("resilience.retry.base_delay_s=.inf", "resilience.retry.base_delay_s"),
    ("resilience.retry.max_delay_s=.inf", "resilience.retry.max_delay_s"),
    ("resilience.retry.multiplier=.nan", "resilience.retry.multiplier"),
    ("resilience.retry.multiplier=.inf", "resilience.retry.multiplier"),
    ("resilience.retry.max_retry_after_s=.inf", "resilience.retry.max_retry_after_s"),
    ("resilience.retry.max_attempts=true", "resilience.retry.max_attempts"),
    ("resilience.kill_switch.per_hour_usd=.inf", "resilience.kill_switch.per_hour_usd"),
    ("resilience.kill_switch.per_day_usd=.nan", "resilience.kill_switch.per_day_usd"),
    ("resilience.kill_switch.soft_fraction=true", "resilience.kill_switch.soft_fraction"),
    (f"resilience.shadow={{target: {SHADOW_TARGET}, judge_noise: 0.6}}", "resilience.shadow.judge_noise"),
    (f"resilience.shadow={{target: {SHADOW_TARGET}, judge_noise: true}}", "resilience.shadow.judge_noise"),
    (f"resilience.shadow={{target: {SHADOW_TARGET}, max_samples: 10}}", "resilience.shadow.max_samples"),
    (f"resilience.shadow={{target: {SHADOW_TARGET}, confidence: .nan}}", "resilience.shadow.confidence"),
    (f"resilience.shadow={{target: {SHADOW_TARGET}, share: .inf}}", "resilience.shadow.share"),
]


@pytest.mark.parametrize("override, field", BAD_SETTINGS)
def test_check_and_run_reject_bad_policy_settings_naming_the_field(override, field, tmp_path, capsys):
    assert main(["check", OUTAGE, "--set", override]) == 2
    message = capsys.readouterr().err
    assert f"{field}: " in message and "Traceback" not in message
    out = tmp_path / "run"
    assert main(["run", OUTAGE, "--no-charts", "--out", str(out), "--set", "duration=10m",
                 "--set", override]) == 2
    assert f"{field}: " in capsys.readouterr().err and not out.exists()


# (section, raw settings, the policy config class built directly with the same values)
SAME_WORDS = [
    ("breaker", {"failure_rate_threshold": 0}, BreakerConfig),
    ("breaker", {"window_size": 10 ** 7}, BreakerConfig),
    ("breaker", {"window_size": 2.5}, BreakerConfig),
    ("breaker", {"wait_in_open_s": math.inf}, BreakerConfig),
    ("breaker", {"mode": "fuse"}, BreakerConfig),
    ("retry", {"max_attempts": 0}, RetryConfig),
    ("retry", {"jitter": "decorrelated"}, RetryConfig),
    ("retry", {"retry_on": ["error", "teapot"]}, RetryConfig),
    ("retry", {"honor_retry_after": 1}, RetryConfig),
    ("kill_switch", {"soft_fraction": 1.5}, KillSwitchConfig),
    ("kill_switch", {"per_hour_usd": -1.0}, KillSwitchConfig),
    ("shadow", {"judge_noise": 0.5}, ShadowConfig),
    ("shadow", {"max_samples": 10}, ShadowConfig),
    ("shadow", {"min_samples": 0}, ShadowConfig),
]


@pytest.mark.parametrize("section, raw, config_class", SAME_WORDS)
def test_scenario_and_direct_construction_reject_with_the_same_words(section, raw, config_class):
    """`BreakerConfig(window_size=0)` in Python and `resilience.breaker.window_size: 0` in a scenario say the
    same thing about the same value."""
    with pytest.raises(SettingError) as direct:
        config_class(**raw)
    field = direct.value.field
    assert field.split(".")[0] in raw
    data = {section: {"target": SHADOW_TARGET, **raw} if section == "shadow" else raw}
    with pytest.raises(ValidationError) as loaded:
        ResilienceConfig.model_validate(data)
    lines = format_validation_error(loaded.value).splitlines()
    assert f"{section}.{field}: {direct.value.problem}" in lines, (lines, direct.value)


def test_durations_and_defaults_reach_the_policy_unchanged():
    res = ResilienceConfig.model_validate({"breaker": {"wait_in_open_s": "30s", "cooldown_s": "2m"},
                                           "retry": {"max_delay_s": "1m"}, "kill_switch": {"per_hour_usd": 5}})
    assert res.breaker.wait_in_open_s == 30.0 and res.breaker.cooldown_s == 120.0
    assert res.retry.max_delay_s == 60.0
    assert isinstance(res.breaker, BreakerConfig) and isinstance(res.retry, RetryConfig)
    assert res.breaker == BreakerSettings(wait_in_open_s=30.0, cooldown_s=120.0)
    # the scenario's defaults are the policies' defaults: one declaration
    assert ResilienceConfig().retry == RetryConfig()
    assert ResilienceConfig.model_validate({"breaker": {}}).breaker.failure_rate_threshold \
        == BreakerConfig().failure_rate_threshold
    breaker = CircuitBreaker(res.breaker, clock=lambda: 0.0)
    assert breaker.config is res.breaker          # no copy between the YAML and the comparing line


def test_unknown_settings_are_rejected_by_name():
    with pytest.raises(ValidationError) as err:
        ResilienceConfig.model_validate({"retry": {"max_attemps": 3}})
    assert format_validation_error(err.value) == "retry.max_attemps: unknown field"


def test_schema_describes_every_policy_setting_with_its_bounds():
    schema = ResilienceConfig.model_json_schema()
    breaker = schema["$defs"]["BreakerSettings"]["properties"]
    assert breaker["window_size"]["maximum"] == 10 ** 6 and breaker["window_size"]["minimum"] == 1
    assert breaker["failure_rate_threshold"]["exclusiveMinimum"] == 0
    for name in ("RetryConfig", "BreakerSettings", "KillSwitchConfig", "ShadowSettings"):
        for field, spec in schema["$defs"][name]["properties"].items():
            assert spec.get("description"), f"{name}.{field} has no description"


# ------------------------------------------------------------------------------------------ check => run

def _exercise(section: str, config) -> None:
    """Build the policy from an accepted section and take it through its basic operations."""
    if section == "breaker":
        breaker = CircuitBreaker(config, clock=lambda: 0.0)
        for ok in (False, True, False):
            if breaker.allow():
                breaker.record(ok, 1.0, cost_usd=0.01)
        breaker.next_admission_s()
        breaker.window_stats()
    elif section == "retry":
        policy = RetryPolicy(config)
        for attempt in (1, 2, 50):
            policy.delay_s(attempt, "rate_limited", 0.5, retry_after_s=1.0)
            policy.record_call(is_retry=attempt > 1)
    elif section == "kill_switch":
        switch = BudgetKillSwitch(config, clock=lambda: 0.0)
        switch.record_spend(1.0, user_id=1)
        switch.state(user_id=1)
    else:
        evaluator = ShadowEvaluator(config)
        evaluator.record(True, False, 0.2, 0.7, 0.0)
        evaluator.look_alpha(1)
        evaluator.look_samples(1)
        evaluator.confidence_interval()


SECTIONS = {"retry": RetryConfig, "breaker": BreakerSettings, "kill_switch": KillSwitchConfig,
            "shadow": ShadowSettings}


def _edge_values(field: dataclasses.Field) -> list:
    """Each declared bound, just inside and outside it, and the usual troublemakers."""
    values = [None, True, 0, 1, -1, 0.5, 1e-300, 1e300, 10 ** 6, 10 ** 6 + 1, 10 ** 18, math.inf, math.nan]
    for key in ("gt", "ge", "lt", "le"):
        bound = field.metadata.get(key)
        if bound is not None:
            values += [bound, bound + 1, bound - 1, math.nextafter(bound, math.inf),
                       math.nextafter(bound, -math.inf)]
    return values


def _accepted(section: str, settings_: dict):
    raw = {"target": SHADOW_TARGET, **settings_} if section == "shadow" else settings_
    try:
        return getattr(ResilienceConfig.model_validate({section: raw}), section)
    except Exception as err:
        assert isinstance(err, ValidationError), f"{section} {raw}: {err!r}"
        return None


@pytest.mark.parametrize("section", SECTIONS)
def test_every_value_the_scenario_accepts_at_the_bounds_builds_the_policy(section):
    built = 0
    for field in dataclasses.fields(SECTIONS[section]):
        if field.name == "target":
            continue
        for value in _edge_values(field):
            config = _accepted(section, {field.name: value})
            if config is not None:
                _exercise(section, config)
                built += 1
    assert built > 20          # the walk did reach accepted values, not just rejections


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 20, 10 ** 20),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1.0, 0.5, 10 ** 6]))


@pytest.mark.parametrize("section", SECTIONS)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_random_sections_accepted_by_the_scenario_build_the_policy_and_match_direct_use(section, data):
    """Hypothesis over every numeric field at once: accepted => the policy builds and runs, and the scenario
    and direct construction agree on accept/reject (for values that are not strings)."""
    cls = SECTIONS[section]
    hints = typing.get_type_hints(cls)
    numeric = [f.name for f in dataclasses.fields(cls)
               if {int, float} & {hints[f.name], *typing.get_args(hints[f.name])}]
    chosen = data.draw(st.dictionaries(st.sampled_from(numeric), _VALUES, max_size=4))
    config = _accepted(section, chosen)
    try:
        direct = cls(**({"target": SHADOW_TARGET, **chosen} if section == "shadow" else chosen))
    except ValueError:
        direct = None
    assert (config is None) == (direct is None), (chosen, config, direct)
    if config is not None:
        _exercise(section, config)
