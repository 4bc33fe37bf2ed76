"""Plain-text reports of results: what the command line prints."""
from __future__ import annotations

import math


def format_summary(summary: dict) -> str:
    """A readable table of a run's headline numbers."""
    if not summary["requests_total"]:
        return ("requests  0: no request arrived after the warm-up, so availability, latency and cost per "
                "request are undefined; raise the workload's rate or the duration")
    rows = [
        ("requests", f"{summary['requests_total']:,}"),
        ("availability", f"{summary['availability']:.3%}"),
        ("failed / timeout / shed / rate-limited",
         f"{summary['requests_failed']:,} / {summary['requests_timeout']:,} / {summary['requests_shed']:,} / "
         f"{summary['requests_rate_limited']:,}"),
        ("provider call error rate", f"{summary['error_rate']:.3%}"),
        ("latency p50 / p95 / p99", f"{summary['latency_p50_s']:.2f} / {summary['latency_p95_s']:.2f} / "
                                    f"{summary['latency_p99_s']:.2f} s"),
        ("time to first token p50 / p95", f"{summary['ttft_p50_s']:.2f} / {summary['ttft_p95_s']:.2f} s"),
        ("queue wait mean / p95", f"{summary['queue_wait_mean_s']:.2f} / {summary['queue_wait_p95_s']:.2f} s"),
        (f"waited over {summary.get('user_patience_s', math.inf):g} s (patience)",
         f"{summary.get('requests_waited_over_patience', 0):,}"),
        ("concurrency mean / peak", f"{summary['mean_concurrency']:.1f} / {summary['peak_concurrency']}"),
        ("cost", f"${summary['cost_usd']:,.2f}"),
        ("cost per request", f"${summary['cost_per_request_usd']:.5f}"),
        ("projected cost per 30-day month", f"${summary['projected_cost_per_month_usd']:,.0f}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
