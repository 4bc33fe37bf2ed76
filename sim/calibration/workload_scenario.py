"""A fitted workload as a runnable scenario file, and the fit as a table a person reads to choose.

The scenario carries the fitted workload over the trace's duration (the step profile, the clusters, the token
distributions) and a stack that cannot throttle it: one provider with no rate limits, unbounded workers, no
user limit, no errors. ``python -m sim run`` then simulates the fitted traffic as it is; a user adds limits,
fallbacks and faults to ask what that traffic does to a design. Its description and its comment header say
which trace it was fitted from.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from sim.calibration.workload_fit import FANO_WINDOWS_S, TokenFit, WorkloadFit

__all__ = ["TOKEN_CHOICES", "SCENARIO_MARKER", "fitted_scenario_data", "fitted_scenario_yaml", "format_fit"]

TOKEN_CHOICES = ("empirical", "lognormal")
#: First line of every scenario file fit-workload writes; only such a file is replaced without --force.
SCENARIO_MARKER = "# Fitted by python -m sim fit-workload"


def _scenario_name(source: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(source).stem).strip("._-") or "trace"
    return f"fitted_{stem}"[:100]


def _tokens_section(fit: TokenFit, choice: str, source: str) -> dict:
    if choice == "lognormal":
        return {"type": "lognormal", "median": round(fit.lognormal_median, 2),
                "p95": round(max(fit.lognormal_p95, fit.lognormal_median * 1.001), 2),
                "max_tokens": max(1, int(round(fit.quantiles[-1])))}
    return {"type": "quantiles", "values": list(fit.quantiles), "source": f"{source} ({fit.column})"}


def fitted_scenario_data(fit: WorkloadFit, tokens: str = "empirical", name: str | None = None) -> dict:
    """The scenario mapping of a fit; ``tokens`` picks the token model (empirical or lognormal)."""
    if tokens not in TOKEN_CHOICES:
        raise ValueError(f"tokens must be one of {', '.join(TOKEN_CHOICES)}, got {tokens!r}")
    burst = fit.burst
    workload = {
        "rate_per_s": round(fit.mean_rate_per_s, 6),
        "profile": {"type": "steps", "step_s": fit.step_s,
                    "weights": [round(float(w), 4) for w in fit.profile_weights]},
        "burstiness": ({"type": "none"} if burst.poisson else
                       {"type": "cluster", "mean_cluster_size": round(burst.mean_cluster_size, 3),
                        "cluster_spread_s": round(burst.cluster_spread_s, 3),
                        "cluster_size_shape": float(f"{burst.cluster_size_shape:.4g}")}),
        "input_tokens": _tokens_section(fit.input_tokens, tokens, fit.source),
        "output_tokens": _tokens_section(fit.output_tokens, tokens, fit.source),
    }
    return {
        "name": name or _scenario_name(fit.source),
        "description": (f"Workload fitted from {fit.source} ({fit.n_requests:,} requests over "
                        f"{fit.span_s / 60:.1f} min) by python -m sim fit-workload; a stack with no binding "
                        "limits"),
        "seed": 1,
        "duration": fit.duration_s,
        "workload": workload,
        "gateway": {"workers": None, "user_rate_limit": None, "smooth_to_provider_limits": False},
        "providers": [{"name": "provider", "models": [
            {"name": "model", "catalogue": "gpt-4o", "error_rate": 0.0, "timeout_s": 600}]}],
        "output": {"interval_s": 60.0},
    }


class _FlowListDumper(yaml.SafeDumper):
    """Lists of numbers on one line (a profile, a quantile table), everything else in block style."""


def _represent_list(dumper, data):
    flow = all(isinstance(x, (int, float)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_FlowListDumper.add_representer(list, _represent_list)


def fitted_scenario_yaml(fit: WorkloadFit, tokens: str = "empirical", name: str | None = None) -> str:
    """The scenario file's text: a comment header (source and the fit table), then the scenario."""
    header = [SCENARIO_MARKER + f" from {fit.source}",
              f"# tokens: {tokens}; check the fit with: python -m sim validate-workload TRACE THIS_FILE --out DIR"]
    header += [f"# {line}" if line else "#" for line in format_fit(fit).splitlines()]
    body = yaml.dump(fitted_scenario_data(fit, tokens, name), Dumper=_FlowListDumper, sort_keys=False, width=120)
    return "\n".join(header) + "\n" + body


def _token_lines(fit: TokenFit) -> list[str]:
    return [f"  {fit.column:<14} p50 {fit.p50:>8,.0f}  p95 {fit.p95:>8,.0f}  p99 {fit.p99:>8,.0f}",
            f"    empirical   {len(fit.quantiles)} quantiles                       KS {fit.ks_empirical:.4f}",
            f"    lognormal   median {fit.lognormal_median:>8,.1f}  p95 {fit.lognormal_p95:>9,.1f}      "
            f"KS {fit.ks_lognormal:.4f}"]


def format_fit(fit: WorkloadFit) -> str:
    """The fit as aligned text: volume, profile, burstiness (trace vs model Fano), tokens with KS distances."""
    b = fit.burst
    weights = fit.profile_weights
    lines = [f"trace     {fit.source}",
             f"requests  {fit.n_requests:,} over {fit.span_s / 60:.1f} min; mean rate {fit.mean_rate_per_s:.4g}/s",
             f"profile   {len(fit.step_rates_per_s)} steps of {fit.step_s:g} s, weights {weights.min():.2f}-"
             f"{weights.max():.2f} (raw step rates shrunk by {b.profile_shrink:.3f})",
             f"burst     inter-arrival CV {fit.interarrival_cv:.3f}; "
             + ("Poisson (no clusters)" if b.poisson else
                f"clusters of mean {b.mean_cluster_size:.2f} requests (size shape {b.cluster_size_shape:.3g}) "
                f"spread over {b.cluster_spread_s:.3g} s; model CV {b.model_cv:.3f}"),
             "          Fano factor   " + "  ".join(f"{w:>6g} s" for w in FANO_WINDOWS_S),
             "            trace       " + "  ".join(f"{fit.fano[w]:>8.3f}" for w in FANO_WINDOWS_S),
             "            model       " + "  ".join(f"{b.model_fano.get(w, float('nan')):>8.3f}"
                                                   for w in FANO_WINDOWS_S),
             "tokens    (KS: largest gap between the trace's CDF and the model's; smaller is closer)"]
    lines += _token_lines(fit.input_tokens) + _token_lines(fit.output_tokens)
    lines += [f"note      {n}" for n in fit.notes]
    return "\n".join(lines)
