"""The command line: parse, call, print.

    python -m sim run SCENARIO [--seed N] [--out DIR] [--set PATH=VALUE ...] [--variant NAME ...]
    python -m sim check SCENARIO [--set ...]
    python -m sim schema
    python -m sim report RESULTS_DIR
    python -m sim estimate (SCENARIO | --dau N --requests-per-user-per-day R ...) [--json]

Bad input (a scenario that does not validate, an unknown override path, a missing or unreadable file, an
output folder that cannot be written, a run too large for the machine) prints one message naming the field
and exits with status 2; nothing is written. Ctrl-C prints "interrupted" and exits with status 130.

Each command imports what it needs inside its function: ``check``, ``schema`` and ``estimate`` then start
without loading SimPy, pandas or matplotlib, and ``--help`` answers at once.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from sim.errors import ScenarioError


def _add_scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a field by dotted path, list items by index (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="simulate a scenario (every variant, on common random numbers)")
    _add_scenario_args(run)
    run.add_argument("--seed", type=int, help="seed (default: the scenario's)")
    run.add_argument("--out", help="output folder (default: results/<scenario name>)")
    run.add_argument("--variant", action="append", default=[], help="run only this variant (repeatable)")
    run.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    run.add_argument("--replications", type=int, default=1,
                     help="independent replications of every variant: each metric as a mean with its 95%% "
                          "interval, and each variant's paired difference against the first (default 1)")

    check = sub.add_parser("check", help="validate a scenario file and print its resolved form")
    _add_scenario_args(check)
    check.add_argument("--quiet", action="store_true", help="print only 'ok'")

    sub.add_parser("schema", help="print the scenario JSON Schema")

    sw = sub.add_parser("sweep", help="run the full factorial of parameter values (with replications)")
    _add_scenario_args(sw)
    sw.add_argument("--param", action="append", default=[], metavar="PATH=V1,V2,...", required=True,
                    help="a parameter and its values (repeatable; the grid is their full factorial)")
    sw.add_argument("--variant", help="sweep on top of this variant of the scenario")
    sw.add_argument("--replications", type=int, default=1, help="runs per combination (replication streams)")
    sw.add_argument("--seed", type=int, help="seed (default: the scenario's)")
    sw.add_argument("--executor", default="serial", choices=["serial", "processes", "dask"])
    sw.add_argument("--workers", type=int, help="processes or Dask workers (default: CPU count)")
    sw.add_argument("--scheduler", help="address of a running Dask scheduler (with --executor dask)")
    sw.add_argument("--out", help="output folder (default: results/<scenario name>_sweep)")
    sw.add_argument("--no-charts", action="store_true")

    exp = sub.add_parser("experiment", help="run a catalogued experiment (see sim/experiments/registry.py)")
    exp.add_argument("name", help="outage_replay | silent_degradation | kill_switch | breaker_tuning | "
                                  "provider_redundancy | shadow_mode | routing | cache_threshold | calibration")
    exp.add_argument("--scenario", help="scenario file (default: experiments/<name>.yaml)")
    exp.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    exp.add_argument("--out", help="output folder (default: results/<name>)")
    exp.add_argument("--seed", type=int)
    exp.add_argument("--replications", type=int, help="replications (sweeps and redundancy)")
    exp.add_argument("--executor", default="serial", choices=["serial", "processes", "dask"])
    exp.add_argument("--workers", type=int)
    exp.add_argument("--scheduler", help="address of a running Dask scheduler")
    exp.add_argument("--no-charts", action="store_true")

    rep = sub.add_parser("report", help="write report.html and report.md into a results folder")
    rep.add_argument("folder", help="a results folder written by run, sweep, tune or experiment")

    est = sub.add_parser("estimate", help="closed-form load and cost estimate (no simulation)")
    est.add_argument("scenario", nargs="?", help="scenario YAML file (instead of the flags)")
    est.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    est.add_argument("--dau", type=float)
    est.add_argument("--requests-per-user-per-day", type=float)
    est.add_argument("--input-tokens", type=float, default=0.0, help="input tokens per LLM call")
    est.add_argument("--output-tokens", type=float, default=0.0, help="output tokens per LLM call")
    est.add_argument("--input-price-per-mtok", type=float, default=0.0, help="USD per 1M input tokens")
    est.add_argument("--output-price-per-mtok", type=float, default=0.0, help="USD per 1M output tokens")
    est.add_argument("--latency-s", type=float, default=0.0, help="mean latency of one LLM call")
    est.add_argument("--peak-to-average", type=float, default=3.0)
    est.add_argument("--llm-calls-per-request", type=float, default=1.0)
    est.add_argument("--json", action="store_true", help="print a JSON object")
    return parser


EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130          # 128 + SIGINT, as shells report it


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"run": cmd_run, "check": cmd_check, "schema": cmd_schema, "estimate": cmd_estimate,
                "sweep": cmd_sweep, "experiment": cmd_experiment, "report": cmd_report}[
            args.command](args)
    except ScenarioError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as err:          # a file or folder the user named that the system refuses
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_BAD_INPUT


# ------------------------------------------------------------------------------------------- commands

def check_seed(seed: int | None) -> None:
    if seed is not None and not 0 <= seed < 2**63:
        raise ScenarioError(f"--seed: must be in [0, 2**63), got {seed}")


def cmd_check(args) -> int:
    from sim.config import load_scenario
    from sim.memory_estimate import estimate_run_memory, format_bytes
    scenario = load_scenario(args.scenario, args.overrides)
    if args.quiet:
        print("ok")
    else:
        print(scenario.to_yaml(), end="")
        print(f"# ok: {args.scenario} is a valid scenario"
              + (f" with variants {', '.join(scenario.variants)}" if scenario.variants else ""))
        print(f"# one run needs ~{format_bytes(estimate_run_memory(scenario).total_bytes)} of memory (estimate)")
    return 0


def cmd_schema(args) -> int:
    from sim.config import Scenario
    print(json.dumps(Scenario.model_json_schema(), indent=2))
    return 0


def cmd_run(args) -> int:
    from sim.config import load_scenario
    from sim.experiments.variants import run_variants
    from sim.memory_estimate import check_fits_in_memory
    from sim.results import check_out_dir
    scenario = load_scenario(args.scenario, args.overrides)
    check_seed(args.seed)
    out = check_out_dir(args.out if args.out else Path("results") / scenario.name)
    names = args.variant or list(scenario.variants)
    unknown = [n for n in names if n not in scenario.variants]
    if unknown:
        raise ScenarioError(f"--variant: unknown {', '.join(unknown)}; known: {', '.join(scenario.variants)}")
    for name in names or [None]:
        check_fits_in_memory(scenario.variant(name) if name else scenario, where=f"variant {name}" if name else "")
    if args.replications < 1:
        raise ScenarioError("--replications: must be at least 1")
    if args.replications > 1:
        from sim.experiments.replications import run_replications
        report = run_replications(scenario, names, out, args.replications, seed=args.seed)
    else:
        report = run_variants(scenario, names, out, seed=args.seed, charts=not args.no_charts)
    print(report)
    print(f"\nresults: {out}/")
    return 0


def cmd_experiment(args) -> int:
    from sim.config import load_scenario
    from sim.experiments.registry import EXPERIMENTS, SCENARIOS, WITHOUT_SCENARIO, run_experiment
    from sim.experiments.sweep import make_executor
    check_seed(args.seed)
    if args.name not in EXPERIMENTS:
        raise ScenarioError(f"experiment: unknown {args.name!r}; known: {', '.join(EXPERIMENTS)}")
    scenario = None
    if args.name not in WITHOUT_SCENARIO or args.scenario:
        scenario = load_scenario(args.scenario or SCENARIOS / f"{args.name}.yaml", args.overrides)
        from sim.memory_estimate import check_fits_in_memory
        check_fits_in_memory(scenario)
    from sim.results import check_out_dir
    out = check_out_dir(args.out if args.out else Path("results") / args.name)
    options = {"seed": args.seed, "charts": not args.no_charts}
    if args.replications is not None:
        if args.replications < 1:
            raise ScenarioError("--replications: must be at least 1")
        options["replications"] = args.replications
    executor, close = make_executor(args.executor, args.workers, args.scheduler)
    if executor is not None:
        options["executor"] = executor
    try:
        print(run_experiment(args.name, scenario, out, **options))
    finally:
        close()
    print(f"\nresults: {out}/")
    return 0


def cmd_sweep(args) -> int:
    from sim.config import load_scenario
    from sim.experiments.sweep import aggregate, expand_grid, make_executor, parse_params, sweep, write_sweep
    scenario = load_scenario(args.scenario, args.overrides)
    if args.variant:
        scenario = scenario.variant(args.variant)
    if args.replications < 1:
        raise ScenarioError("--replications: must be at least 1")
    check_seed(args.seed)
    params = parse_params(args.param)
    from sim.memory_estimate import check_fits_in_memory
    from sim.results import check_out_dir
    for combo in expand_grid(params):
        check_fits_in_memory(scenario.with_overrides(combo), where=", ".join(f"{k}={v}" for k, v in combo.items()))
    out = check_out_dir(args.out if args.out else Path("results") / f"{scenario.name}_sweep")
    executor, close = make_executor(args.executor, args.workers, args.scheduler)
    try:
        runs = sweep(scenario, params, replications=args.replications, seed=args.seed, executor=executor)
    finally:
        close()
    write_sweep(runs, params, out, charts=not args.no_charts and scenario.output.charts)
    shown = [m for m in ("availability", "latency_p95_s", "cost_per_request_usd", "failed_during_faults")
             if m in runs.columns]
    print(aggregate(runs, list(params), shown).to_string(index=False))
    print(f"\nresults: {out}/ ({len(runs)} runs)")
    return 0


def cmd_report(args) -> int:
    from sim.report.document import write_report
    html_path, md_path = write_report(args.folder)
    print(f"report: {html_path}\n        {md_path}")
    return 0


def cmd_estimate(args) -> int:
    from sim.estimate import estimate
    from sim.report.tables import format_estimate
    if args.scenario:
        from sim.config import load_scenario
        from sim.experiments.scenario_estimate import estimate_from_scenario
        est = estimate_from_scenario(load_scenario(args.scenario, args.overrides))
    else:
        if args.dau is None or args.requests_per_user_per_day is None:
            raise ScenarioError("estimate: give a scenario file, or --dau and --requests-per-user-per-day")
        est = estimate(args.dau, args.requests_per_user_per_day, args.input_tokens, args.output_tokens,
                       args.input_price_per_mtok, args.output_price_per_mtok, args.latency_s,
                       peak_to_average=args.peak_to_average, llm_calls_per_request=args.llm_calls_per_request)
    if args.json:
        print(json.dumps({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                          for k, v in est.to_dict().items()}, indent=2))
    else:
        print(format_estimate(est))
    return 0


if __name__ == "__main__":
    sys.exit(main())
