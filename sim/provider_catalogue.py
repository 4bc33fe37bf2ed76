"""Named, sourced defaults for models and provider rate limits.

A scenario should be able to say ``model: claude-sonnet-4`` or ``limits: anthropic-tier1-sonnet4`` instead of
copying prices, latencies and per-key limits by hand. Those numbers live in ``provider_catalogue.yaml`` beside this
module, each with the page it came from (``source``) and the date it was read (``as_of``), because provider
prices and limits change and a stale number should be easy to spot and to update.

Three sections:

* ``models``: per model ``provider`` (``anthropic`` | ``openai`` | ``google``), ``input_usd_per_mtok`` and
  ``output_usd_per_mtok`` (US dollars per million tokens), ``latency`` (``type: ttft_throughput`` with
  ``ttft_s``, ``tokens_per_s`` and ``sigma``) and the size of one call: ``context_window_tokens`` (input +
  requested output) and ``max_output_tokens`` (``None``: no limit of its own).
* ``limit_presets``: per-key limits ``requests_per_min``, ``input_tokens_per_min``,
  ``output_tokens_per_min`` and, for OpenAI's combined input+output bucket, ``tokens_per_min``; ``None``
  means unlimited. A preset names its ``provider``, usage ``tier`` and ``model``; its ``must_supply`` lists
  the limits no published source gives (a negotiated custom tier, or a number not found), which a scenario
  using it must set itself.
* ``enforcement``: per provider (``anthropic``, ``openai``, ``google``) how it enforces those limits:
  ``period_s``, the seconds of the minute's quota its buckets hold (60 = the whole minute at once, 1 = one
  second's worth), and ``reserve_max_output``, whether a call is counted at admission as its prompt plus its
  ``max_tokens`` (settled to the actual output when it finishes). A scenario's provider of that name takes
  them as defaults (:meth:`Catalogue.enforcement_for`).

Everything is returned as plain ``dict`` copies (no pydantic here): the scenario configuration merges them.
Use :func:`without_provenance` to drop the ``source`` / ``as_of`` / ``page_date`` / ``note`` keys first.
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from sim.errors import ScenarioError
from sim.estimate import LIMIT_KEYS  # per-key limit fields; tokens_per_min is a combined input+output bucket

__all__ = [
    "Catalogue",
    "UnknownNameError",
    "PROVENANCE_KEYS",
    "CALL_SIZE_KEYS",
    "missing_limits",
    "LIMIT_KEYS",
    "load_catalogue",
    "without_provenance",
]

PROVIDERS = ("anthropic", "openai", "google")
LATENCY_TYPES = ("ttft_throughput",)
PROVENANCE_KEYS = frozenset({"source", "as_of", "page_date", "note", "context_source", "context_as_of",
                             "context_note"})
#: Optional per-model limits on the size of one call (positive integers, or null for none).
CALL_SIZE_KEYS = ("context_window_tokens", "max_output_tokens")
_REQUIRED_LIMIT_KEYS = LIMIT_KEYS[:3]
_PACKAGED_NAME = "provider_catalogue.yaml"


class UnknownNameError(KeyError):
    """A model or preset name that is not in the catalogue; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Catalogue:
    """The parsed catalogue. Look-ups return deep copies, so callers may modify what they get."""

    models: Mapping[str, Mapping[str, Any]]
    limit_presets: Mapping[str, Mapping[str, Any]]
    path: str
    enforcement: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))

    def model(self, name: str) -> dict:
        """The model entry called ``name`` (prices, latency, provenance); ``KeyError`` listing known names."""
        return copy.deepcopy(dict(self._lookup(self.models, name, "model")))

    def limit_preset(self, name: str) -> dict:
        """The per-key limit preset called ``name``; ``KeyError`` listing known names."""
        return copy.deepcopy(dict(self._lookup(self.limit_presets, name, "limit preset")))

    def enforcement_for(self, provider: str) -> dict | None:
        """How the provider called ``provider`` enforces its limits (``period_s``, ``reserve_max_output``,
        provenance), or None when the catalogue does not say."""
        entry = self.enforcement.get(provider.lower())
        return None if entry is None else copy.deepcopy(dict(entry))

    def model_names(self) -> list[str]:
        return sorted(self.models)

    def limit_preset_names(self) -> list[str]:
        return sorted(self.limit_presets)

    @staticmethod
    def _lookup(table: Mapping[str, Mapping[str, Any]], name: str, kind: str) -> Mapping[str, Any]:
        try:
            return table[name]
        except (KeyError, TypeError):
            known = ", ".join(sorted(table)) or "(none)"
            raise UnknownNameError(f"unknown {kind} {name!r} in catalogue; known: {known}") from None


def without_provenance(entry: Any) -> Any:
    """A copy of ``entry`` with the provenance keys (source, as_of, page_date, note) removed at every level."""
    if isinstance(entry, Mapping):
        return {k: without_provenance(v) for k, v in entry.items() if k not in PROVENANCE_KEYS}
    if isinstance(entry, list):
        return [without_provenance(v) for v in entry]
    return copy.deepcopy(entry)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load and validate a catalogue file; ``None`` means the one packaged with ``sim``. Cached per path."""
    if path is None:
        return _load_packaged()
    return _load_file(str(Path(path).expanduser().resolve()))


@functools.lru_cache(maxsize=None)
def _load_packaged() -> Catalogue:
    try:
        text = resources.files("sim").joinpath(_PACKAGED_NAME).read_text(encoding="utf-8")
        where = f"sim/{_PACKAGED_NAME}"
    except (ModuleNotFoundError, FileNotFoundError, OSError):  # pragma: no cover - odd installs only
        fallback = Path(__file__).with_name(_PACKAGED_NAME)
        text, where = fallback.read_text(encoding="utf-8"), str(fallback)
    return _parse(text, where)


@functools.lru_cache(maxsize=None)
def _load_file(resolved: str) -> Catalogue:
    try:
        text = Path(resolved).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{resolved}: cannot read catalogue: {exc.strerror or exc}") from None
    return _parse(text, resolved)


#: libyaml's safe loader when PyYAML was built with it: the same data, parsed ~10x faster (the pure-Python
#: loader takes ~0.25 s on the packaged catalogue, most of the first run's warm-up)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse(text: str, where: str) -> Catalogue:
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{where}: must be a mapping with 'models' and 'limit_presets'")
    models = _section(data, "models", where)
    presets = _section(data, "limit_presets", where)
    for name, entry in models.items():
        _check_model(entry, f"{where}: models.{name}")
    for name, entry in presets.items():
        _check_preset(entry, f"{where}: limit_presets.{name}")
    enforcement = _section(data, "enforcement", where) if "enforcement" in data else {}
    for name, entry in enforcement.items():
        _check_enforcement(entry, f"{where}: enforcement.{name}")
    return Catalogue(models=MappingProxyType(models), limit_presets=MappingProxyType(presets), path=where,
                     enforcement=MappingProxyType(enforcement))


def _section(data: Mapping, key: str, where: str) -> dict[str, dict]:
    section = data.get(key)
    if not isinstance(section, Mapping) or not section:
        raise ScenarioError(f"{where}: {key}: must be a non-empty mapping of name -> entry")
    for name, entry in section.items():
        if not isinstance(name, str) or not isinstance(entry, Mapping):
            raise ScenarioError(f"{where}: {key}.{name}: must be a mapping keyed by a string name")
    return {name: dict(entry) for name, entry in section.items()}


def _check_provenance(entry: Mapping, at: str) -> None:
    for key in ("source", "as_of"):
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ScenarioError(f"{at}.{key}: must be a non-empty string (quote dates: as_of: \"2026-11-27\")")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_number(entry: Mapping, key: str, at: str, *, positive: bool) -> None:
    value = entry.get(key)
    if not _is_number(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ScenarioError(f"{at}.{key}: must be a finite number {bound}, got {value!r}")


def _check_model(entry: Mapping, at: str) -> None:
    if entry.get("provider") not in PROVIDERS:
        raise ScenarioError(f"{at}.provider: must be one of {', '.join(PROVIDERS)}, got {entry.get('provider')!r}")
    _check_number(entry, "input_usd_per_mtok", at, positive=False)
    _check_number(entry, "output_usd_per_mtok", at, positive=False)
    _check_provenance(entry, at)
    latency = entry.get("latency")
    if not isinstance(latency, Mapping):
        raise ScenarioError(f"{at}.latency: must be a mapping with type, ttft_s, tokens_per_s, sigma")
    if latency.get("type") not in LATENCY_TYPES:
        raise ScenarioError(f"{at}.latency.type: must be one of {', '.join(LATENCY_TYPES)}, got {latency.get('type')!r}")
    _check_number(latency, "ttft_s", f"{at}.latency", positive=False)
    _check_number(latency, "tokens_per_s", f"{at}.latency", positive=True)
    _check_number(latency, "sigma", f"{at}.latency", positive=False)
    _check_call_size(entry, at)


def _check_call_size(entry: Mapping, at: str) -> None:
    for key in CALL_SIZE_KEYS:
        value = entry.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ScenarioError(f"{at}.{key}: must be a whole number of tokens > 0 or null, got {value!r}")
    window, most_out = entry.get("context_window_tokens"), entry.get("max_output_tokens")
    if any(key in entry for key in CALL_SIZE_KEYS):
        for key in ("context_source", "context_as_of"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ScenarioError(f"{at}.{key}: must be a non-empty string: where the context window and "
                                    "maximum output came from, and the date it was read")
    if window is not None and most_out is not None and most_out > window:
        raise ScenarioError(f"{at}.max_output_tokens ({most_out}) exceeds context_window_tokens ({window})")


def _check_preset(entry: Mapping, at: str) -> None:
    for key in _REQUIRED_LIMIT_KEYS:
        if key not in entry:
            raise ScenarioError(f"{at}.{key}: missing (use null for unlimited)")
    must_supply = entry.get("must_supply", [])
    if not isinstance(must_supply, list) or not set(must_supply) <= set(LIMIT_KEYS):
        raise ScenarioError(f"{at}.must_supply: must be a list of {', '.join(LIMIT_KEYS)}, got {must_supply!r}")
    for key in LIMIT_KEYS:
        if key in must_supply and entry.get(key) is not None:
            raise ScenarioError(f"{at}.{key}: is listed in must_supply, so its value must be null here")
        if entry.get(key) is not None:
            _check_number(entry, key, at, positive=True)
    if "provider" in entry and entry["provider"] not in PROVIDERS:
        raise ScenarioError(f"{at}.provider: must be one of {', '.join(PROVIDERS)}, got {entry['provider']!r}")
    for key in ("tier", "model"):
        if key in entry and not (isinstance(entry[key], str) and entry[key].strip()):
            raise ScenarioError(f"{at}.{key}: must be a non-empty string, got {entry[key]!r}")
    _check_provenance(entry, at)


def missing_limits(preset: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """The limits a preset leaves to the user (its ``must_supply``) that ``given`` does not set to a value."""
    return [key for key in preset.get("must_supply", ()) if given.get(key) is None]


def _check_enforcement(entry: Mapping, at: str) -> None:
    value = entry.get("period_s")
    if not _is_number(value) or not 0 < value <= 60:
        raise ScenarioError(f"{at}.period_s: must be a number of seconds in (0, 60], got {value!r}")
    if not isinstance(entry.get("reserve_max_output"), bool):
        raise ScenarioError(f"{at}.reserve_max_output: must be true or false, got {entry.get('reserve_max_output')!r}")
    _check_provenance(entry, at)
