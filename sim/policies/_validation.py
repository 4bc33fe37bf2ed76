"""Settings declared once: a dataclass field carries its default, bounds, unit and description.

A policy's config is a frozen stdlib dataclass whose every field is made by one of the helpers below
(:func:`integer`, :func:`number`, :func:`choice`, :func:`flag`). The helpers put the field's bounds and
description into ``dataclasses.field(metadata=...)`` using pydantic's ``Field`` keyword names (``gt``,
``ge``, ``lt``, ``le``, ``strict``, ``allow_inf_nan``, ``description``, ``json_schema_extra``). Two readers
use that one declaration:

* :func:`check_fields`, called from the dataclass's ``__post_init__``, validates a config built directly in
  plain Python (a real gateway, a unit test): no pydantic needed;
* pydantic, when the dataclass is a field type of the scenario model, reads the same metadata as
  ``Field(**metadata)``: the bounds and descriptions show in the JSON Schema, and a scenario file is
  rejected at load time (``check``) for exactly what the policy would reject at run time.

A duration field is marked ``json_schema_extra={"unit": "s"}`` so that the scenario loader can accept
``"30s"`` or ``"5m"`` for it; the policy itself only ever sees seconds.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from functools import lru_cache
from typing import Any, Literal, Optional, Union

MAX_COUNT = 10 ** 6
"""Upper bound of a count setting (calls, seconds of a window): larger asks a policy for absurd memory."""

_BOUND_TESTS = (("gt", "greater than", lambda v, b: v > b), ("ge", "greater than or equal to", lambda v, b: v >= b),
                ("lt", "less than", lambda v, b: v < b), ("le", "less than or equal to", lambda v, b: v <= b))


class SettingError(ValueError):
    """A setting's value is not allowed: which config, which field, what is wrong, and the value.

    The problem is worded like pydantic's messages ("Input should be greater than 0"), so a config built
    in Python and a scenario file loaded through pydantic say the same thing about the same value.
    """

    def __init__(self, owner: str, field: str, problem: str, value: Any) -> None:
        super().__init__(f"{owner}.{field}: {problem}, got {value!r}")
        self.owner = owner
        self.field = field
        self.problem = problem
        self.value = value


# --------------------------------------------------------------------------------------------- declaring

def _bounds(gt, ge, lt, le) -> dict:
    return {k: v for k, v in (("gt", gt), ("ge", ge), ("lt", lt), ("le", le)) if v is not None}


def integer(default: Any, description: str, *, gt: Optional[int] = None, ge: Optional[int] = None,
            lt: Optional[int] = None, le: Optional[int] = None) -> Any:
    """An integer setting (``strict``: a bool or a float is not an integer)."""
    return dataclasses.field(default=default, metadata={"description": description, "strict": True,
                                                        **_bounds(gt, ge, lt, le)})


def number(default: Any, description: str, *, gt: Optional[float] = None, ge: Optional[float] = None,
           lt: Optional[float] = None, le: Optional[float] = None, unit: Optional[str] = None) -> Any:
    """A finite real setting; ``unit="s"`` marks a duration in seconds."""
    metadata = {"description": description, "allow_inf_nan": False, **_bounds(gt, ge, lt, le)}
    if unit is not None:
        metadata["json_schema_extra"] = {"unit": unit}
    return dataclasses.field(default=default, metadata=metadata)


def choice(default: str, description: str) -> Any:
    """One of the strings of the field's ``Literal[...]`` annotation."""
    return dataclasses.field(default=default, metadata={"description": description})


def flag(default: bool, description: str) -> Any:
    """A true/false setting (``strict``: ``1`` or ``"yes"`` is not a bool)."""
    return dataclasses.field(default=default, metadata={"description": description, "strict": True})


def text(description: str, default: Any = dataclasses.MISSING) -> Any:
    """A string setting; required when no default is given."""
    return dataclasses.field(default=default, metadata={"description": description})


def unit_of(field: dataclasses.Field) -> Optional[str]:
    """The unit a field was declared with (``"s"`` for durations), or None."""
    return (field.metadata.get("json_schema_extra") or {}).get("unit")


# --------------------------------------------------------------------------------------------- checking

@lru_cache(maxsize=None)
def field_types(cls: type) -> dict:
    """The resolved annotations of a settings dataclass (cached: they never change)."""
    return typing.get_type_hints(cls)


def _split_optional(hint) -> tuple[Any, bool]:
    if typing.get_origin(hint) is Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return (args[0] if len(args) == 1 else Union[tuple(args)]), len(args) < len(typing.get_args(hint))
    return hint, False


def _type_problem(hint, value) -> Optional[str]:
    """Why ``value`` is not of type ``hint``, or None when it is."""
    if typing.get_origin(hint) is Literal:
        options = [repr(o) for o in typing.get_args(hint)]
        listed = options[0] if len(options) == 1 else f"{', '.join(options[:-1])} or {options[-1]}"
        return None if value in typing.get_args(hint) else f"Input should be {listed}"
    if hint is bool:
        return None if isinstance(value, bool) else "Input should be a valid boolean"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "Input should be a valid integer"
    if hint is float:
        return number_problem(value)
    if hint is str:
        return None if isinstance(value, str) else "Input should be a valid string"
    if typing.get_origin(hint) is tuple:       # items are checked one by one in check_fields
        return None if isinstance(value, (tuple, list)) else "Input should be a valid list"
    return None


def number_problem(value: Any) -> Optional[str]:
    """Why ``value`` is not a finite real number (a bool is not a number), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "Input should be a valid number"
    try:
        return None if math.isfinite(value) else "Input should be a finite number"
    except OverflowError:           # an int too large for a float
        return "Input should be a finite number"


def _bound_problem(field: dataclasses.Field, value) -> Optional[str]:
    for key, sign, holds in _BOUND_TESTS:
        bound = field.metadata.get(key)
        if bound is not None and not holds(value, bound):
            return f"Input should be {sign} {bound}"
    return None


def check_fields(config: Any) -> None:
    """Validate every field of a settings dataclass against its annotation and declared bounds.

    Raises :class:`SettingError` (a ``ValueError``: ``"<Class>.<field>: <problem>, got <value>"``) for the
    first bad field. Sequences declared as ``tuple[...]`` are stored as tuples (the dataclass stays
    hashable). Called from ``__post_init__``, so it also runs when pydantic builds the dataclass.
    """
    owner = type(config).__name__
    hints = field_types(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        hint, optional = _split_optional(hints[field.name])
        if value is None and optional:
            continue
        problem = _type_problem(hint, value) or (
            _bound_problem(field, value) if hint in (int, float) else None)
        if problem:
            raise SettingError(owner, field.name, problem, value)
        if typing.get_origin(hint) is tuple:
            _check_items(owner, field.name, typing.get_args(hint)[0], value)
            object.__setattr__(config, field.name, tuple(value))


def _check_items(owner: str, name: str, item_hint, items) -> None:
    for index, item in enumerate(items):
        problem = _type_problem(item_hint, item)
        if problem:
            raise SettingError(owner, f"{name}.{index}", problem, item)
