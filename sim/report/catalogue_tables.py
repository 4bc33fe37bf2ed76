"""The provider catalogue as text: what ``python -m sim catalogue`` prints.

Two tables that fit 100 columns, one row per entry, then the page each row's numbers came from and the date
it was read. Context windows are exact; per-minute limits compact (``30k``, ``1.05M``); ``-`` is "no
limit", ``?`` a limit the
published sources do not give (the preset's ``must_supply``: a scenario using it must set that limit).

Nothing here imports pandas or matplotlib: the command answers at once.
"""
from __future__ import annotations

import textwrap
from typing import Any, Mapping

from sim.provider_catalogue import Catalogue

__all__ = ["compact_count", "format_models", "format_limit_presets", "catalogue_json"]

WIDTH = 100
NO_LIMIT, NOT_PUBLISHED = "-", "?"


def compact_count(value: float | None) -> str:
    """A count in at most 5 characters: 950, 30k, 1.05M, 150M (``-`` for None)."""
    if value is None:
        return NO_LIMIT
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            scaled = value / size
            text = f"{scaled:.3g}" if scaled < 100 else f"{scaled:.0f}"
            return text + suffix
    return f"{value:g}"


def _exact(value: int | None) -> str:
    return NO_LIMIT if value is None else f"{value:,}"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], left: int) -> list[str]:
    """Aligned columns: the first ``left`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    def line(cells):
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return [line(header), "  ".join("-" * w for w in widths)] + [line(r).rstrip() for r in rows]


def _sources(entries: Mapping[str, Mapping[str, Any]], extra_key: str | None = None) -> list[str]:
    """One wrapped paragraph per entry: its source, the date read, and why a number is missing."""
    out = ["", "Sources (as_of = the date the page was read):"]
    for name, entry in entries.items():
        text = f"{name} ({entry['as_of']}): {entry['source']}"
        if extra_key and entry.get(extra_key):
            text += f"; window and output ({entry.get('context_as_of', '?')}): {entry[extra_key]}"
        if entry.get("must_supply") or entry.get("context_note"):
            text += f" -- {entry.get('note') or entry.get('context_note')}"
        out += textwrap.wrap(text, WIDTH, subsequent_indent="    ", break_on_hyphens=False)
    return out


def format_models(catalogue: Catalogue, provider: str | None = None) -> str:
    """The models: provider, prices (USD per 1M tokens), latency, context window and maximum output."""
    names = [n for n in catalogue.model_names() if provider in (None, catalogue.models[n]["provider"])]
    names.sort(key=lambda n: (catalogue.models[n]["provider"], n))
    rows = []
    for name in names:
        m, lat = catalogue.models[name], catalogue.models[name]["latency"]
        rows.append((name, m["provider"], f"{m['input_usd_per_mtok']:.2f}", f"{m['output_usd_per_mtok']:.2f}",
                     f"{lat['ttft_s']:.2f}", f"{lat['tokens_per_s']:.0f}",
                     _exact(m.get("context_window_tokens")), _exact(m.get("max_output_tokens"))))
    header = ("model", "provider", "$/M in", "$/M out", "TTFT s", "tok/s", "context", "max out")
    lines = [f"Models ({len(rows)}): prices in USD per 1M tokens; context = input + output tokens of one call",
             *_table(header, rows, left=2)]
    return "\n".join(lines + _sources({n: catalogue.models[n] for n in names}, "context_source"))


def format_limit_presets(catalogue: Catalogue, provider: str | None = None) -> str:
    """The per-key limit presets: tier, model, RPM, input / output / combined TPM."""
    presets = catalogue.limit_presets
    names = [n for n in catalogue.limit_preset_names() if provider in (None, presets[n].get("provider"))]
    names.sort(key=lambda n: (presets[n].get("provider", ""), presets[n].get("model", ""),
                              presets[n].get("tier", ""), n))

    def cell(entry, key):
        return NOT_PUBLISHED if key in entry.get("must_supply", ()) else compact_count(entry.get(key))

    rows = [(n, presets[n].get("tier", ""), presets[n].get("model", ""),
             *(cell(presets[n], k) for k in ("requests_per_min", "input_tokens_per_min", "output_tokens_per_min",
                                             "tokens_per_min"))) for n in names]
    header = ("preset", "tier", "model", "RPM", "in TPM", "out TPM", "TPM")
    lines = [f"Limit presets ({len(rows)}), per key and minute; TPM = input + output (OpenAI); "
             f"{NO_LIMIT} no limit, {NOT_PUBLISHED} not published",
             *_table(header, rows, left=3)]
    return "\n".join(lines + _sources({n: presets[n] for n in names}))


def catalogue_json(catalogue: Catalogue, what: str | None = None, provider: str | None = None) -> dict:
    """The catalogue as plain data, provenance included: ``models`` and/or ``limit_presets``."""
    def pick(table):
        return {n: dict(e) for n, e in sorted(table.items()) if provider in (None, e.get("provider"))}
    out: dict[str, Any] = {"path": catalogue.path}
    if what in (None, "models"):
        out["models"] = pick(catalogue.models)
    if what in (None, "limits"):
        out["limit_presets"] = pick(catalogue.limit_presets)
    return out
