"""Import the gateway configuration a team already runs (LiteLLM proxy, Portkey) as a runnable scenario.

A gateway's configuration says which deployments serve which model names, with what limits, how requests are
retried, balanced, cooled down, cached and budgeted, and where they fall back. It does not say what traffic
arrives: the workload stays the user's to give (``--workload`` names a scenario whose ``workload`` section is
taken, e.g. one written by ``python -m sim fit-workload``), and without it a documented default is used and
said so.

An importer maps what the simulator models and lists every setting it ignores, with the reason, both in
what it prints and as comments at the top of the scenario file; a partly mapped setting is listed as a
mapping with its caveat. Environment references (``os.environ/OPENAI_API_KEY``) and secrets are never needed
and never written: an ignored setting's value is shown only when it cannot be a credential.

One importer per gateway (:mod:`sim.importers.litellm`, :mod:`sim.importers.portkey`), each a function
``import_config(config: dict, source: str, options: ImportOptions) -> ImportResult``; this module holds what
they share: the result, the scenario file writer and the printed summary.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["GATEWAYS", "IMPORT_MARKER", "PLACEHOLDER_WORKLOAD", "PLACEHOLDER_DURATION_S", "imported_traffic",
           "PROXY_GATEWAY", "PROXY_GATEWAY_NOTE", "catalogue_name", "catalogue_entry", "ImportOptions", "ImportResult", "Ignored", "Mapped", "ImportProblem",
           "is_secret", "shown_value", "scenario_yaml", "format_import", "read_gateway_config",
           "workload_from_file"]

#: The gateways ``python -m sim import`` reads, with the module that maps each.
GATEWAYS = {"litellm": "sim.importers.litellm", "portkey": "sim.importers.portkey"}
#: First line of every scenario file ``import`` writes; only such a file is replaced without --force.
IMPORT_MARKER = "# Imported by python -m sim import"


#: The traffic an import writes when the user gives none: flat, 1 request/s, for an hour, the schema's tokens.
PLACEHOLDER_WORKLOAD = {"rate_per_s": 1.0, "profile": {"type": "flat"}}
PLACEHOLDER_DURATION_S = 3600.0


def imported_traffic(options: "ImportOptions") -> tuple[dict, float, str]:
    """(workload section, duration in seconds, the note saying where they came from): the user's
    ``--workload`` scenario, else the placeholder, said so."""
    if options.workload is not None:
        duration = float(options.duration_s or PLACEHOLDER_DURATION_S)
        return (dict(options.workload), duration,
                f"workload and duration ({duration:g} s) from {options.workload_source or 'the given scenario'}")
    return (dict(PLACEHOLDER_WORKLOAD), PLACEHOLDER_DURATION_S,
            "no --workload: a flat 1 request/s for 1 h with the schema's default token sizes stands in; give "
            "your own traffic with --workload SCENARIO.yaml (e.g. one written by python -m sim fit-workload "
            "from your request log)")


#: The gateway section of every import: a LiteLLM or Portkey proxy passes a provider's 429 to its retries and
#: fallbacks, and never queues calls to pace them under the limits (the simulator's default gateway does).
PROXY_GATEWAY = {"smooth_to_provider_limits": False}
PROXY_GATEWAY_NOTE = ("the gateway passes a provider's 429 to its retries and fallbacks and does not queue calls "
                      "to pace them under the limits (gateway.smooth_to_provider_limits: false)")


_VENDOR = re.compile(r"^((us|eu|apac|global)\.)?(anthropic|meta|amazon|cohere|mistral|ai21|openai)\.")
_VERSION = [re.compile(p) for p in (r"-v\d+(:\d+)?$", r"@\d+$", r"-\d{8}$", r"-\d{4}-\d{2}-\d{2}$",
                                     r"-latest$", r"-\d{3}$")]
_ALIASES = {"claude-3-5-haiku": "claude-haiku-3.5", "claude-sonnet-4-0": "claude-sonnet-4",
            "claude-opus-4-0": "claude-opus-4"}


def catalogue_name(model: str) -> str:
    """The catalogue's name for a gateway's model string, by the providers' naming: the route or provider
    prefix (``azure/``, ``bedrock/converse/``, ``@openai-prod/``) and Bedrock's region and vendor prefixes
    dropped, then date and version suffixes (``-20250514``, ``-v1:0``, ``-2024-08-06``, ``@20250514``,
    ``-001``, ``-latest``). ``bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0`` -> ``claude-sonnet-4``.
    Not checked against the catalogue (:func:`catalogue_entry` is)."""
    name = _VENDOR.sub("", model.strip().rsplit("/", 1)[-1].lower())
    changed = True
    while changed:
        changed = False
        for pattern in _VERSION:
            stripped = pattern.sub("", name)
            if stripped != name and stripped:
                name, changed = stripped, True
    return _ALIASES.get(name, name)


def catalogue_entry(model: str) -> str | None:
    """:func:`catalogue_name` of ``model`` if the catalogue has it, else None."""
    from sim.provider_catalogue import load_catalogue
    name = catalogue_name(model)
    return name if name in set(load_catalogue().model_names()) else None


class ImportProblem(ValueError):
    """A gateway configuration the importer cannot map; the message names the setting and the problem."""


@dataclass(frozen=True)
class ImportOptions:
    """What the user chooses beside the gateway's file."""

    name: str | None = None            # scenario name (default: from the config file's name)
    model: str | None = None           # the model name requests ask for (default: the importer's rule)
    workload: dict | None = None       # a scenario's workload section (default: the schema's default)
    workload_source: str | None = None  # where that workload came from, for the record
    duration_s: float | None = None    # simulated window (default: the workload scenario's, else 1 h)


@dataclass(frozen=True)
class Mapped:
    """A gateway setting the scenario models: where it went, and any caveat."""

    setting: str          # as the gateway spells it: router_settings.cooldown_time
    to: str               # the scenario field(s): providers[gpt-4o-openai].limits.rpm
    note: str = ""


@dataclass(frozen=True)
class Ignored:
    """A gateway setting the scenario does not model, and why."""

    setting: str
    reason: str
    value: str | None = None   # shown_value(...) of it, None when it may be a secret


@dataclass
class ImportResult:
    gateway: str                        # litellm | portkey
    source: str                         # the config file as the user named it
    scenario: dict                      # scenario data, valid for sim.config.validate_scenario
    mapped: list[Mapped] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)     # assumptions the user should know (default workload...)


_SECRET_KEY = re.compile(r"(key|secret|token|password|passwd|credential|auth|cookie|session|dsn|url)", re.I)


#: Values that look like credentials whatever their setting is called: provider key prefixes (sk-, AKIA...),
#: a bearer token, a URL with a password, a long opaque token of letters and digits.
_SECRET_VALUE = re.compile(r"^((sk|pk|rk)[-_]|xox[abp]-|gh[pousr]_|AKIA|AIza|Bearer\s)|://[^/\s]*:[^/\s]*@"
                           r"|^(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{32,}$")


def is_secret(key: str, value: Any) -> bool:
    """Whether a setting's value may be a credential: its name says so, it is an environment reference, or
    it looks like a key (``sk-...``, a bearer token, a URL with a password, a long opaque token)."""
    if isinstance(value, str) and (value.strip().startswith("os.environ/") or _SECRET_VALUE.search(value.strip())):
        return True
    if key and _SECRET_KEY.search(str(key).rsplit(".", 1)[-1]) and not isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, dict):
        return any(is_secret(str(k), v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(is_secret(key, v) for v in value)
    return False


def shown_value(key: str, value: Any, width: int = 60) -> str | None:
    """A short text of a setting's value for the ignored list, or None when it may be a secret."""
    if is_secret(key, value):
        return None
    text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True, width=10**6)
    text = text.strip().removesuffix("...").strip()        # a scalar's YAML ends with the document marker
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def read_gateway_config(path: str | Path) -> dict:
    """A gateway's config file (YAML or JSON: JSON is YAML) as a mapping; bad input names the file."""
    path = Path(path).expanduser()
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ImportProblem(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImportProblem(f"{path}: is a folder; give the gateway's config file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        raise ImportProblem(f"{path}: not valid YAML or JSON{at}: {getattr(err, 'problem', None) or err}") from None
    if not isinstance(data, dict):
        raise ImportProblem(f"{path}: expected a mapping of settings at the top, got {type(data).__name__}")
    return data


def workload_from_file(path: str | Path) -> tuple[dict, float]:
    """The ``workload`` section and the duration of a scenario file (e.g. one fit-workload wrote)."""
    from sim.config import load_scenario
    scenario = load_scenario(str(path))
    workload = scenario.model_dump(mode="json", exclude_unset=True).get("workload", {})  # as written, not resolved
    return workload, float(scenario.duration)


class _Dumper(yaml.SafeDumper):
    """Lists of scalars on one line, everything else in block style; keys in the order written."""


def _represent_list(dumper, data):
    flow = all(isinstance(x, (int, float, str)) for x in data) and len(data) <= 12
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def _comment(text: str, width: int = 110) -> list[str]:
    import textwrap
    lines = textwrap.wrap(text, width - 4, break_long_words=False, break_on_hyphens=False) or [""]
    return ["# " + lines[0]] + ["#   " + line for line in lines[1:]]


def scenario_yaml(result: ImportResult) -> str:
    """The scenario file: a comment header (source, what was mapped, every ignored setting with its reason,
    the assumptions), then the scenario."""
    head = [f"{IMPORT_MARKER} {result.gateway} from {result.source}",
            "# Simulate it with: python -m sim run <this file>. Secrets and os.environ/ references are never copied.",
            "#"]
    if result.notes:
        head.append("# Assumptions:")
        for note in result.notes:
            head += _comment(f"- {note}")
        head.append("#")
    head.append(f"# Mapped ({len(result.mapped)}):")
    for m in result.mapped:
        head += _comment(f"- {m.setting} -> {m.to}" + (f" ({m.note})" if m.note else ""))
    head.append("#")
    head.append(f"# Ignored ({len(result.ignored)}): settings the simulator does not model")
    for i in result.ignored:
        value = f" = {i.value}" if i.value is not None else ""
        head += _comment(f"- {i.setting}{value}: {i.reason}")
    body = yaml.dump(result.scenario, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)
    return "\n".join(head) + "\n\n" + body


def format_import(result: ImportResult) -> str:
    """What the import command prints: the deployments and groups made, the assumptions, the ignored list."""
    s = result.scenario
    plural = lambda n, word: f"{n} {word}" + ("" if n == 1 else "s")     # noqa: E731
    lines = [f"{result.gateway} config {result.source}: {plural(len(s.get('providers', [])), 'deployment')}, "
             f"{plural(len(s.get('routing', {}).get('groups', {})), 'model group')}, chain "
             f"{' -> '.join(s.get('routing', {}).get('chain', [])) or '(default)'}"]
    if result.notes:
        lines.append("assumptions:")
        lines += [f"  - {n}" for n in result.notes]
    lines.append(f"mapped {len(result.mapped)} settings; ignored {len(result.ignored)}:")
    for i in result.ignored:
        value = f" = {i.value}" if i.value is not None else ""
        lines.append(f"  - {i.setting}{value}: {i.reason}")
    return "\n".join(lines)
