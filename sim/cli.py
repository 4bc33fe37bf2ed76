"""The command line: parse, call, print.

    python -m sim run SCENARIO [--seed N] [--out DIR] [--set PATH=VALUE ...] [--variant NAME ...]
    python -m sim check SCENARIO [--set ...]
    python -m sim schema
    python -m sim report RESULTS_DIR
    python -m sim estimate (SCENARIO | --dau N --requests-per-user-per-day R ... [--limits PRESET]) [--json]
    python -m sim catalogue [models | limits] [--provider NAME] [--json]
    python -m sim fit-provider LOG [--format calls|csv] [--model-col NAME ...] [-o provider.yaml]
    python -m sim fit-workload TRACE [--format azure|mooncake|generic ...] [-o SCENARIO.yaml]
    python -m sim validate-workload TRACE SCENARIO.yaml [--format ...] [--out DIR]
    python -m sim serve SCENARIO [--port N] [--speed X] [--duration D] [--max-calls N] [--log calls.parquet]
                             [--max-hang WALL_S] [--seed N]
    python -m sim drive SCENARIO --target URL [--speed X] [--concurrency N] [--max-requests N] [--duration D]

Bad input (a scenario that does not validate, an unknown override path, a missing or unreadable file, an
output folder that cannot be written, a run too large for the machine) prints one message naming the field
and exits with status 2; nothing is written. Ctrl-C prints "interrupted" and exits with status 130; SIGTERM
is handled the same way (temporary folders are removed) and exits with 143 (128 + SIGTERM), as shells report.
``--force`` lets run, sweep and experiment replace another scenario's results (never a folder this program did
not write); ``--quiet`` suppresses the progress bars and the table, and still prints the results path.

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


def _add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="replace results of another scenario in --out (never a folder this program did not write)")
    p.add_argument("--quiet", action="store_true", help="no progress bars and no table; print only the results path")
    p.add_argument("--wide", action="store_true", help="print tables at full width (default: fit 100 columns)")


def _add_executor_args(p: argparse.ArgumentParser, what: str = "runs") -> None:
    p.add_argument("--executor", default="serial", choices=["serial", "processes", "dask"],
                   help=f"where the {what} run (default: serially, here)")
    p.add_argument("--workers", type=int, help="processes or Dask workers (default: CPU count)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (with --executor dask)")


def _add_trace_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("trace", help="request trace file (one row per request)")
    p.add_argument("--format", default="azure", choices=["azure", "mooncake", "generic"],
                   help="azure: Azure LLM inference CSV (default); mooncake: Mooncake JSON Lines; generic: any "
                        "CSV, with the column flags below")
    p.add_argument("--time-col", default="arrival_s", help="generic: arrival-time column (default arrival_s)")
    p.add_argument("--time-unit", default="s", choices=["s", "ms", "datetime"],
                   help="generic: unit of the time column (default s)")
    p.add_argument("--input-col", default="input_tokens", help="generic: input-token column (default input_tokens)")
    p.add_argument("--output-col", default="output_tokens",
                   help="generic: output-token column (default output_tokens)")


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
    run.add_argument("--precision", type=float, metavar="FRACTION",
                     help="replicate in batches until every shown metric's 95%% half-width is at most this "
                          "fraction of its mean (0.05 = 5%%), starting from max(3, --replications)")
    run.add_argument("--max-replications", type=int, default=200, help="cap for --precision (default 200)")
    _add_executor_args(run, "replications (with --replications or --precision)")
    _add_output_args(run)

    check = sub.add_parser("check", help="validate a scenario file and print its resolved form")
    _add_scenario_args(check)
    check.add_argument("--quiet", action="store_true", help="print only 'ok'")

    sub.add_parser("schema", help="print the scenario JSON Schema")

    sw = sub.add_parser("sweep", help="run the full factorial of parameter values (with replications)")
    _add_scenario_args(sw)
    sw.add_argument("--param", action="append", default=[], metavar="PATH=VALUES", required=True,
                    help="a parameter and its values (repeatable): a list 0.8,0.9; a range A:B:STEP "
                         "(0.85:0.97:0.03, B included when on the grid); a log range A:B:NLOG (10:1000:3log); "
                         "durations wherever a number goes (30s:2m:30s, 1m,5m,15m)")
    sw.add_argument("--design", default="factorial", choices=["factorial", "lhs"],
                    help="factorial: every combination (default); lhs: a Latin hypercube of --samples points")
    sw.add_argument("--samples", type=int, help="points of the Latin hypercube (with --design lhs)")
    sw.add_argument("--metrics", metavar="M1,M2",
                    help="metrics for the table and charts (default: those of the scenario's features); "
                         "summary.csv holds them all")
    sw.add_argument("--resume", action="store_true",
                    help="continue an interrupted sweep with the same arguments (runs only the missing runs)")
    sw.add_argument("--variant", help="sweep on top of this variant of the scenario")
    sw.add_argument("--replications", type=int, default=1, help="runs per combination (replication streams)")
    sw.add_argument("--seed", type=int, help="seed (default: the scenario's)")
    _add_executor_args(sw)
    sw.add_argument("--out", help="output folder (default: results/<scenario name>_sweep)")
    sw.add_argument("--no-charts", action="store_true")
    _add_output_args(sw)

    tn = sub.add_parser("tune", help="the best parameter values that meet bounds on metrics (see sim/experiments/tune.py)")
    _add_scenario_args(tn)
    goal = tn.add_mutually_exclusive_group(required=True)
    goal.add_argument("--minimize", metavar="METRIC", help="summary metric (or a tuned parameter) to minimize")
    goal.add_argument("--maximize", metavar="METRIC", help="summary metric (or a tuned parameter) to maximize")
    tn.add_argument("--constraint", action="append", default=[], required=True, metavar="METRIC>=X",
                    help="a bound the 95%% interval must clear: >=, <=, >, < ; X may be a percent (repeatable)")
    tn.add_argument("--param", action="append", default=[], metavar="PATH=V1,V2,...", required=True,
                    help="a parameter and its candidate values (repeatable)")
    tn.add_argument("--variant", help="tune on top of this variant of the scenario")
    tn.add_argument("--replications", type=int, default=3, help="runs per point, at least 2 (default 3)")
    tn.add_argument("--budget", type=int, help="most runs in all (default: twice the full factorial's)")
    tn.add_argument("--seed", type=int, help="seed (default: the scenario's)")
    _add_executor_args(tn)
    tn.add_argument("--out", help="output folder (default: results/<scenario name>_tune)")
    tn.add_argument("--no-charts", action="store_true")
    _add_output_args(tn)

    exp = sub.add_parser("experiment", help="run a catalogued experiment (see sim/experiments/registry.py)")
    exp.add_argument("name", help="outage_replay | silent_degradation | kill_switch | breaker_tuning | "
                                  "provider_redundancy | shadow_mode | routing | cache_threshold | calibration | "
                                  "rate_limit_enforcement | scaling_pyramid | load_balancing | twin_litellm")
    exp.add_argument("--scenario", help="scenario file (default: experiments/<name>.yaml)")
    exp.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    exp.add_argument("--out", help="output folder (default: results/<name>)")
    exp.add_argument("--seed", type=int)
    exp.add_argument("--replications", type=int,
                     help="replications (sweeps, redundancy, rate_limit_enforcement, scaling_pyramid)")
    exp.add_argument("--param", action="append", default=[], metavar="PATH=VALUES",
                     help="replace a tuning experiment's grid values (breaker_tuning, cache_threshold, "
                          "rate_limit_enforcement; same syntax as sweep)")
    _add_executor_args(exp)
    exp.add_argument("--speed", type=float, help="live experiments (twin_litellm): time compression, scenario "
                                                 "seconds per wall second (default 10)")
    exp.add_argument("--no-charts", action="store_true")
    _add_output_args(exp)

    drv = sub.add_parser("drive", help="replay a scenario's workload against a live endpoint on loopback (sim "
                                       "serve, a LiteLLM proxy) and record the requests frame (docs/live_mode.md)")
    _add_scenario_args(drv)
    drv.add_argument("--target", required=True, metavar="URL",
                     help="OpenAI-compatible base URL ending in /v1, loopback only "
                          "(e.g. http://127.0.0.1:8765/<provider>/v1 of sim serve)")
    drv.add_argument("--speed", type=float, default=1.0,
                     help="time compression: simulated seconds per wall second (default 1; 60 = a minute a second)")
    drv.add_argument("--concurrency", type=int, help="requests in flight at most (default 256)")
    drv.add_argument("--max-requests", type=int, help="send only the first N requests of the workload")
    drv.add_argument("--duration", metavar="D",
                     help="send only the requests arriving in the first D simulated seconds (30s, 15m, 1h; "
                          "default: the scenario's duration)")
    drv.add_argument("--model", help="the model name requests ask for (default: the scenario's traffic model: the "
                                     "chain's first group or model)")
    drv.add_argument("--stream", action="store_true", help="ask for streamed answers (SSE) and measure TTFT")
    drv.add_argument("--align", action="store_true",
                     help="send by the clock of the sim serve at --target (read from its GET /health), so that "
                          "arrivals, its fault timeline and its calls log share one time axis")
    drv.add_argument("--litellm", metavar="CONFIG.yaml",
                     help="send through an in-process litellm.Router built from this LiteLLM proxy config, every "
                          "deployment pointed at --target, then sim serve's root URL http://127.0.0.1:PORT (time "
                          "settings scaled by --speed; see docs/live_mode.md)")
    drv.add_argument("--seed", type=int, help="seed of the workload (default: the scenario's)")
    drv.add_argument("--out", help="output folder (default: results/<scenario name>_live)")
    drv.add_argument("--charts", action="store_true", help="also write the run's PNG charts")
    _add_output_args(drv)

    rep = sub.add_parser("report", help="write report.html and report.md into a results folder")
    rep.add_argument("folder", help="a results folder written by run, sweep, tune or experiment")

    exp_ = sub.add_parser("export", help="write a run's results for other tools (OpenTelemetry traces)")
    exports = exp_.add_subparsers(dest="format", required=True, metavar="FORMAT")
    otel = exports.add_parser("otel", help="one span per request and per provider attempt, OTLP/JSON lines in the "
                                           "OpenTelemetry GenAI conventions (see docs/otel_export.md)")
    otel.add_argument("folder", help="the results folder of one run (a variant's subfolder for variants)")
    otel.add_argument("-o", "--out", help="output file (default: FOLDER/spans.otlp.jsonl)")
    otel.add_argument("--start", help="wall-clock time of simulated t=0, ISO 8601 (default: the latest day on "
                                      "which the run, at its start_time_of_day, has already ended)")
    otel.add_argument("--service-name", help="the resource's service.name (default: 'llm-gateway (<scenario>, "
                                             "simulated)')")
    otel.add_argument("--batch", type=int, default=1000, help="requests per line (one ExportTraceServiceRequest)")
    otel.add_argument("--force", action="store_true", help="replace the output file if it exists")
    otel.add_argument("--quiet", action="store_true", help="print only the output path")

    imp = sub.add_parser("import", help="a LiteLLM proxy or Portkey config as a runnable scenario, with every "
                                        "setting it ignores listed (see docs/gateway_import.md)")
    gateways = imp.add_subparsers(dest="gateway", required=True, metavar="GATEWAY")
    for gateway, what in (("litellm", "a LiteLLM proxy config.yaml (model_list, router_settings, litellm_settings)"),
                          ("portkey", "a Portkey config JSON (strategy, targets, retry, cache, request_timeout)")):
        g = gateways.add_parser(gateway, help=what)
        g.add_argument("config", help="the gateway's config file")
        g.add_argument("-o", "--out", help="scenario YAML to write (default: only print what was mapped)")
        g.add_argument("--workload", metavar="SCENARIO.yaml",
                       help="take the workload section and duration of this scenario (e.g. one written by "
                            "fit-workload); default: the schema's default workload, said so in the file")
        g.add_argument("--model", help="the model name the traffic asks for (default: the first with fallbacks, "
                                       "else the first in the config)")
        g.add_argument("--name", help="scenario name (default: from the config file's name)")
        g.add_argument("--force", action="store_true", help="replace an existing file that import did not write")

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
    est.add_argument("--limits", metavar="PRESET",
                     help="a catalogue limit preset (python -m sim catalogue limits): keys needed, binding limit")
    est.add_argument("--json", action="store_true", help="print a JSON object")

    cat = sub.add_parser("catalogue", help="list the models and limit presets a scenario can name, with sources")
    cat.add_argument("what", nargs="?", choices=["models", "limits"],
                     help="models (prices, latency, context window) or limits (usage-tier presets); default both")
    cat.add_argument("--provider", help="only this provider's entries (anthropic, openai, google)")
    cat.add_argument("--json", action="store_true", help="print a JSON object (every field, provenance included)")
    fit = sub.add_parser("fit-provider", help="fit a provider section (latency, error rates, timeout) from a "
                                              "log of calls (see sim/calibration/provider_fit.py)")
    fit.add_argument("log", help="a CSV of calls, or the simulator's calls.parquet or a run's results folder")
    fit.add_argument("--format", choices=["calls", "csv"],
                     help="calls: the simulator's calls frame; csv: one row per call (default: from the name)")
    fit.add_argument("-o", "--out", help="YAML file for the providers section (default: print it)")
    fit.add_argument("--chart", metavar="FILE.png",
                     help="also draw latency against output tokens with the fitted model, one panel per model")
    fit.add_argument("--wide", action="store_true", help="print the table at full width (default: fit 100 columns)")
    cols = fit.add_argument_group("CSV columns (seconds unless --time-unit ms; optional ones are used when present)")
    cols.add_argument("--model-col", default="model", help="model name (default: model)")
    cols.add_argument("--status-col", default="status",
                      help="ok / error / timeout / rate_limited / refused / too_large, or HTTP codes (default: status)")
    cols.add_argument("--input-tokens-col", default="input_tokens", help="input tokens (default: input_tokens)")
    cols.add_argument("--output-tokens-col", default="output_tokens", help="output tokens (default: output_tokens)")
    cols.add_argument("--latency-col", default="latency_s", help="whole call, start to last token (default: latency_s)")
    cols.add_argument("--ttft-col", help="time to first token (optional; default: ttft_s if present)")
    cols.add_argument("--timestamp-col", help="start time, seconds or dates (optional; default: timestamp if present)")
    cols.add_argument("--cost-col", help="billed USD (optional; default: cost_usd if present)")
    cols.add_argument("--provider-col", help="provider name (optional; default: provider if present)")
    cols.add_argument("--provider", default="fitted", help="provider name when there is no provider column")
    cols.add_argument("--time-unit", default="s", choices=["s", "ms"], help="unit of latency and TTFT (default s)")

    fw = sub.add_parser("fit-workload", help="fit a workload (rate profile, bursts, tokens) to a trace and write "
                                             "it as a runnable scenario (see sim/calibration/workload_fit.py)")
    _add_trace_args(fw)
    fw.add_argument("--tokens", default="empirical", choices=["empirical", "lognormal"],
                    help="token model written to the scenario: the trace's quantile table (default) or the "
                         "fitted lognormal; both are printed with their KS distance")
    fw.add_argument("--step", help="rate-profile step, a duration (default: 1m for a trace shorter than a day, "
                                   "else 1h)")
    fw.add_argument("--name", help="scenario name (default: fitted_<trace file name>)")
    fw.add_argument("-o", "--out", help="scenario YAML to write (default: only print the fit)")
    fw.add_argument("--force", action="store_true",
                    help="replace an existing file that fit-workload did not write")

    vw = sub.add_parser("validate-workload", help="simulate a fitted workload and compare it with its trace "
                                                  "(table, CSV and charts; a Poisson model alongside)")
    _add_trace_args(vw)
    vw.add_argument("scenario", help="scenario YAML whose workload to check (e.g. written by fit-workload)")
    vw.add_argument("--replications", type=int, default=5,
                    help="independent draws of each model; statistics are their means (default 5)")
    vw.add_argument("--seed", type=int, help="seed (default: the scenario's)")
    vw.add_argument("-o", "--out", help="output folder (default: results/<scenario name>_validation)")
    vw.add_argument("--no-charts", action="store_true", help="skip the PNG chart")
    vw.add_argument("--force", action="store_true",
                    help="replace results of another scenario in --out (never a folder this program did not write)")
    vw.add_argument("--quiet", action="store_true", help="no table; print only the results path")

    sv = sub.add_parser("serve", help="play the scenario's providers on loopback for a real gateway (live mode, "
                                      "docs/live_mode.md; needs pip install -e '.[live]')")
    _add_scenario_args(sv)
    sv.add_argument("--port", type=int, help="TCP port on 127.0.0.1 (default 8765; 0 = any free port, printed)")
    sv.add_argument("--speed", type=float,
                    help="time compression: scenario seconds per wall second (default 1; 60 = a minute a second)")
    sv.add_argument("--duration", metavar="D",
                    help="scenario time to serve, then stop ('15m', '900'; default: the scenario's duration)")
    sv.add_argument("--max-calls", type=int, help="stop after this many calls (default: no bound)")
    sv.add_argument("--log", metavar="CALLS.parquet",
                    help="write every call, in the simulator's calls shape, to this Parquet file when stopping")
    sv.add_argument("--max-hang", metavar="WALL_S",
                    help="wall seconds a hung call is held open before a 504 if the client waits that long "
                         "(default 120)")
    sv.add_argument("--seed", type=int, help="seed of the served draws (default: the scenario's)")
    sv.add_argument("--quiet", action="store_true", help="print only the start line and why it stopped")
    return parser


EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130          # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143           # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every temporary folder is removed on the way out."""


def _raise_terminated(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    import signal
    args = build_parser().parse_args(argv)
    if getattr(args, "wide", False):
        from sim.report import tables
        tables.TABLE_WIDTH = None       # one setting for every table the command prints
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return {"run": cmd_run, "check": cmd_check, "schema": cmd_schema, "estimate": cmd_estimate,
                "catalogue": cmd_catalogue,
                "sweep": cmd_sweep, "experiment": cmd_experiment, "tune": cmd_tune, "report": cmd_report,
                "export": cmd_export, "import": cmd_import, "drive": cmd_drive,
                "fit-provider": cmd_fit_provider, "fit-workload": cmd_fit_workload,
                "validate-workload": cmd_validate_workload, "serve": cmd_serve}[
            args.command](args)
    except ScenarioError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as err:
        print("terminated" if isinstance(err, Terminated) else "interrupted", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED
    except OSError as err:          # a file or folder the user named that the system refuses
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        signal.signal(signal.SIGTERM, previous)
        if getattr(args, "wide", False):
            tables.TABLE_WIDTH = 100
        if "sim.results" in sys.modules:    # only a command that loaded it can hold a lock (check stays light)
            sys.modules["sim.results"].release_locks()


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
    out = check_out_dir(args.out if args.out else Path("results") / scenario.name, scenario.name, args.force)
    names = args.variant or list(scenario.variants)
    unknown = [n for n in names if n not in scenario.variants]
    if unknown:
        raise ScenarioError(f"--variant: unknown {', '.join(unknown)}; known: {', '.join(scenario.variants)}")
    for name in names or [None]:
        check_fits_in_memory(scenario.variant(name) if name else scenario, where=f"variant {name}" if name else "")
    if args.replications < 1:
        raise ScenarioError("--replications: must be at least 1")
    from sim.progress import progress
    if args.replications > 1 or args.precision is not None:
        from sim.experiments.replications import run_replications
        from sim.experiments.sweep import make_executor
        executor, close = make_executor(args.executor, args.workers, args.scheduler)
        total = max(args.replications, 3 if args.precision is not None else 1) * max(len(names), 1)
        try:
            with progress(total, desc="replications", quiet=args.quiet) as on_run:
                report = run_replications(scenario, names, out, args.replications, seed=args.seed,
                                          executor=executor, precision=args.precision,
                                          max_replications=args.max_replications, on_run=on_run,
                                          charts=not args.no_charts)
        finally:
            close()
    elif args.executor != "serial" or args.workers is not None or args.scheduler:
        raise ScenarioError("--executor, --workers, --scheduler: only with --replications N (N > 1) or --precision")
    else:
        total, unit = (len(names), "variant") if names else (100, "%")
        with progress(total, unit=unit, desc=scenario.name, quiet=args.quiet) as on_run:
            report = run_variants(scenario, names, out, seed=args.seed, charts=not args.no_charts, on_run=on_run)
    if not args.quiet:
        print(report)
    print(f"{'' if args.quiet else chr(10)}results: {out}/")
    return 0


#: Experiments whose grid ``--param`` may replace.
GRID_EXPERIMENTS = ("breaker_tuning", "cache_threshold", "rate_limit_enforcement")


def cmd_experiment(args) -> int:
    from sim.config import load_scenario
    from sim.experiments.registry import EXPERIMENTS, LIVE_EXPERIMENTS, SCENARIOS, WITHOUT_SCENARIO, run_experiment
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
    out = check_out_dir(args.out if args.out else Path("results") / args.name,
                        scenario.name if scenario else None, args.force)
    options = {"seed": args.seed, "charts": not args.no_charts}
    if args.speed is not None:
        if args.name not in LIVE_EXPERIMENTS:
            raise ScenarioError(f"--speed: only {', '.join(LIVE_EXPERIMENTS)} run live, not {args.name}")
        if not 0 < args.speed <= 1000:
            raise ScenarioError(f"--speed: must be in (0, 1000], got {args.speed:g}")
        options["speed"] = args.speed
    if args.replications is not None:
        if args.replications < 1:
            raise ScenarioError("--replications: must be at least 1")
        options["replications"] = args.replications
    if args.param:
        if args.name not in GRID_EXPERIMENTS:
            raise ScenarioError(f"--param: only {', '.join(GRID_EXPERIMENTS)} take grid values, not {args.name}")
        from sim.experiments.sweep import parse_params
        options["params"] = parse_params(args.param)
    executor, close = make_executor(args.executor, args.workers, args.scheduler)
    if executor is not None:
        options["executor"] = executor
    from sim.progress import progress
    try:
        with progress(1, desc=args.name, quiet=args.quiet) as on_run:
            report = run_experiment(args.name, scenario, out, on_run=on_run, **options)
    finally:
        close()
    if not args.quiet:
        print(report)
    print(f"{'' if args.quiet else chr(10)}results: {out}/")
    return 0


def _scenario_and_params(args):
    """The scenario (or its ``--variant``) and the ``--param`` values of a sweep or a tune, checked."""
    from sim.config import load_scenario
    from sim.experiments.sweep import parse_params
    scenario = load_scenario(args.scenario, args.overrides)
    if args.variant:
        scenario = scenario.variant(args.variant)
    check_seed(args.seed)
    return scenario, parse_params(args.param)


def cmd_sweep(args) -> int:
    from sim.experiments.checkpoint import SweepCheckpoint, checkpoint_dir, sweep_manifest
    from sim.experiments.sweep import aggregate, design_combos, make_executor, sweep, write_sweep
    from sim.progress import progress
    scenario, params = _scenario_and_params(args)
    if args.replications < 1:
        raise ScenarioError("--replications: must be at least 1")
    seed = scenario.seed if args.seed is None else args.seed
    combos = design_combos(params, args.design, args.samples, seed)
    shown = shown_metrics(scenario, args.metrics)
    from sim.memory_estimate import check_fits_in_memory
    from sim.results import check_out_dir
    for combo in combos:
        check_fits_in_memory(scenario.with_overrides(combo), where=", ".join(f"{k}={v}" for k, v in combo.items()))
    out = check_out_dir(args.out if args.out else Path("results") / f"{scenario.name}_sweep", scenario.name,
                        args.force)
    manifest = sweep_manifest(scenario.to_yaml(), params, args.design, args.samples, seed, args.replications)
    checkpoint = SweepCheckpoint.open(checkpoint_dir(out), manifest, resume=args.resume)
    executor, close = make_executor(args.executor, args.workers, args.scheduler)
    try:
        with progress(len(combos) * args.replications, desc="sweep", quiet=args.quiet) as on_run:
            runs = sweep(scenario, params, replications=args.replications, seed=seed, executor=executor,
                         design=args.design, samples=args.samples, checkpoint=checkpoint, on_run=on_run)
    finally:
        close()
    write_sweep(runs, params, out, charts=not args.no_charts, metrics=shown)
    checkpoint.remove()
    if not args.quiet:
        from sim.report.tables import format_frame
        print(format_frame(aggregate(runs, list(params), [m for m in shown if m in runs.columns])))
    print(f"{'' if args.quiet else chr(10)}results: {out}/ ({len(runs)} runs)")
    return 0


def cmd_tune(args) -> int:
    from sim.experiments.sweep import make_executor
    from sim.experiments.tune import Objective, format_recommendation, parse_constraint, tune, write_tune
    from sim.results import check_out_dir
    scenario, params = _scenario_and_params(args)
    for text in args.constraint:
        parse_constraint(text)
    objective = Objective(args.minimize, "min") if args.minimize else Objective(args.maximize, "max")
    out = check_out_dir(args.out if args.out else Path("results") / f"{scenario.name}_tune", scenario.name,
                        args.force)
    from sim.progress import progress
    executor, close = make_executor(args.executor, args.workers, args.scheduler)
    try:
        with progress(args.budget or 1, desc="tune", quiet=args.quiet) as on_run:
            result = tune(scenario, params, objective, args.constraint, replications=args.replications,
                          seed=args.seed, executor=executor, budget=args.budget, on_run=on_run)
    finally:
        close()
    write_tune(result, out, charts=not args.no_charts)
    if not args.quiet:
        print(format_recommendation(result))
    print(f"{'' if args.quiet else chr(10)}results: {out}/")
    return 0


def shown_metrics(scenario, metrics_flag: str | None) -> list[str]:
    """--metrics checked against the numeric summary metrics, or the scenario's default ones."""
    from sim.experiments.sweep import KNOWN_METRICS, check_metrics, default_metrics, parse_metrics
    names = parse_metrics(metrics_flag)
    return check_metrics(names, list(KNOWN_METRICS)) if names else default_metrics(scenario)


def cmd_report(args) -> int:
    from sim.report.document import write_report
    html_path, md_path = write_report(args.folder)
    print(f"report: {html_path}\n        {md_path}")
    return 0


def cmd_drive(args) -> int:
    import asyncio
    from sim.config import load_scenario, parse_duration_s
    from sim.live.driver import DEFAULT_CONCURRENCY, check_loopback, drive_http, import_aiohttp, lag_warning, \
        plan_drive, save_live_run
    from sim.progress import progress
    from sim.report.tables import format_summary
    from sim.results import check_out_dir
    scenario = load_scenario(args.scenario, args.overrides)
    check_seed(args.seed)
    target = check_loopback(args.target)
    if not args.speed > 0:
        raise ScenarioError(f"--speed: must be > 0, got {args.speed:g}")
    try:
        duration_s = parse_duration_s(args.duration) if args.duration is not None else None
    except ValueError as err:
        raise ScenarioError(f"--duration: {err}") from None
    import_aiohttp()
    litellm_config = None
    if args.litellm:
        import yaml
        litellm_config = yaml.safe_load(Path(args.litellm).read_text())
        if not isinstance(litellm_config, dict) or "model_list" not in litellm_config:
            raise ScenarioError(f"--litellm {args.litellm}: not a LiteLLM proxy config (no model_list)")
    out = check_out_dir(args.out if args.out else Path("results") / f"{scenario.name}_live", scenario.name,
                        args.force)
    concurrency = args.concurrency if args.concurrency is not None else DEFAULT_CONCURRENCY
    plan = plan_drive(scenario, args.seed, duration_s, args.max_requests, args.model)
    if not args.quiet:
        print(f"driving {plan.n} of {plan.drawn_total} requests ({plan.duration_s:g} simulated s) at {target}, "
              f"speed {args.speed:g}: about {plan.duration_s / args.speed:.1f} wall s", file=sys.stderr)
    with progress(plan.n, unit="request", desc="drive", quiet=args.quiet) as on_done:
        if args.litellm:
            from sim.live.litellm_router import drive_litellm
            run = asyncio.run(drive_litellm(plan, litellm_config, target, args.speed, concurrency, args.stream,
                                            on_done, args.align))
        else:
            run = asyncio.run(drive_http(plan, target, args.speed, concurrency, args.stream, on_done, args.align))
    via = f"litellm.Router({args.litellm}) -> {target}" if args.litellm else target
    result = save_live_run(run, out, via, concurrency, args.stream, charts=args.charts)
    if not args.quiet:
        print(format_summary(result.summary))
        if run.errors:
            print("errors: " + ", ".join(f"{n} x {e}" for e, n in run.errors.most_common(5)))
    warning = lag_warning(result.summary)
    if warning:
        print(warning, file=sys.stderr)
    print(f"{'' if args.quiet else chr(10)}results: {out}/")
    return 0


def cmd_export(args) -> int:
    from sim.export.otel import export_otel, parse_start
    from sim.progress import progress
    start = parse_start(args.start) if args.start else None
    with progress(0, unit="request", desc="spans", quiet=args.quiet) as on_progress:
        path, spans, start = export_otel(args.folder, args.out, start=start, service_name=args.service_name,
                                         requests_per_batch=args.batch, force=args.force, on_progress=on_progress)
    if args.quiet:
        print(path)
    else:
        print(f"{spans:,} spans (OTLP/JSON lines, {args.batch:,} traces a line) -> {path}\n"
              f"simulated t=0 is {start.isoformat()}")
    return 0


def cmd_import(args) -> int:
    import importlib
    from sim.config import folder_name_problem, validate_scenario
    from sim.importers import (GATEWAYS, IMPORT_MARKER, ImportOptions, ImportProblem, format_import,
                               read_gateway_config, scenario_yaml, workload_from_file)
    if args.name is not None and folder_name_problem(args.name):
        raise ScenarioError(f"--name: {folder_name_problem(args.name)}")
    out = _check_scenario_out(args.out, args.force, IMPORT_MARKER, "import") if args.out else None
    workload = duration = None
    if args.workload:
        workload, duration = workload_from_file(args.workload)
    options = ImportOptions(name=args.name, model=args.model, workload=workload,
                            workload_source=args.workload, duration_s=duration)
    try:
        config = read_gateway_config(args.config)
        result = importlib.import_module(GATEWAYS[args.gateway]).import_config(config, args.config, options)
    except ImportProblem as err:
        raise ScenarioError(f"{args.gateway} config {err}") from None
    try:
        validate_scenario(result.scenario)          # what run will accept, checked before writing
    except ScenarioError as err:
        raise ScenarioError(f"{args.config}: the imported scenario is not valid ({err}); please report this "
                            "with the config") from None
    print(format_import(result))
    if out is not None:
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(scenario_yaml(result))
        tmp.replace(out)
        print(f"\nscenario: {out}; simulate it with: python -m sim run {out}")
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
                       peak_to_average=args.peak_to_average, llm_calls_per_request=args.llm_calls_per_request,
                       limits=_preset_limits(args.limits) if args.limits else None)
    if args.json:
        print(json.dumps({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                          for k, v in est.to_dict().items()}, indent=2))
    else:
        print(format_estimate(est))
    return 0


def _preset_limits(name: str) -> dict:
    """A catalogue preset's limits for ``estimate --limits``; one with limits left to the user is refused."""
    from sim.provider_catalogue import load_catalogue, missing_limits
    try:
        preset = load_catalogue().limit_preset(name)
    except KeyError as err:
        raise ScenarioError(f"--limits: {err}") from None
    missing = missing_limits(preset, {})
    if missing:
        raise ScenarioError(f"--limits: preset {name!r} publishes no value for {', '.join(missing)}; estimate a "
                            f"scenario that sets them beside the preset")
    return preset


def cmd_catalogue(args) -> int:
    from sim.provider_catalogue import PROVIDERS, load_catalogue
    from sim.report.catalogue_tables import catalogue_json, format_limit_presets, format_models
    if args.provider is not None and args.provider not in PROVIDERS:
        raise ScenarioError(f"--provider: unknown {args.provider!r}; known: {', '.join(PROVIDERS)}")
    catalogue = load_catalogue()
    if args.json:
        print(json.dumps(catalogue_json(catalogue, args.what, args.provider), indent=2))
        return 0
    parts = []
    if args.what in (None, "models"):
        parts.append(format_models(catalogue, args.provider))
    if args.what in (None, "limits"):
        parts.append(format_limit_presets(catalogue, args.provider))
    print("\n\n".join(parts))
    return 0


def cmd_fit_provider(args) -> int:
    from sim.calibration import call_logs, provider_fit as pf
    from sim.report.tables import format_provider_fit
    path = Path(args.log)
    fmt = args.format or ("csv" if path.suffix.lower() in (".csv", ".txt") else "calls")
    if fmt == "calls":
        given = [flag for flag in ("ttft_col", "timestamp_col", "cost_col", "provider_col") if getattr(args, flag)]
        if given:
            raise ScenarioError(f"--{given[0].replace('_', '-')}: column options apply to --format csv only")
        log = call_logs.read_calls_log(path)
    else:
        log = call_logs.read_csv_log(path, call_logs.LogColumns(
            model=args.model_col, status=args.status_col, input_tokens=args.input_tokens_col,
            output_tokens=args.output_tokens_col, latency=args.latency_col, provider=args.provider_col,
            ttft=args.ttft_col, timestamp=args.timestamp_col, cost=args.cost_col, time_unit=args.time_unit,
            provider_name=args.provider))
    if args.chart:
        from sim.report.provider_fit_chart import check_replaceable_chart
        check_replaceable_chart(Path(args.chart))
    fit = pf.fit_log(log, str(path))
    text = pf.fitted_yaml(fit)
    print(format_provider_fit(fit))
    if args.out:
        print(f"\nprovider section: {pf.save_fitted_providers(args.out, text)}")
    else:
        print("\n" + text, end="")
    if args.chart:
        from sim.report.provider_fit_chart import provider_fit_chart
        print(f"chart: {provider_fit_chart(args.chart, fit, log)}")
    return 0


def read_trace_arg(args):
    """The trace named on the command line as a frame (arrival_s, input_tokens, output_tokens)."""
    from sim.model import arrivals as arr
    try:
        if args.format == "azure":
            return arr.read_azure_trace(args.trace)
        if args.format == "mooncake":
            return arr.read_mooncake_trace(args.trace)
        return arr.read_trace_csv(args.trace, args.time_col, args.input_col, args.output_col,
                                  time_unit=args.time_unit)
    except (ValueError, FileNotFoundError) as err:
        raise ScenarioError(f"trace ({args.format} format): {err}") from None


def cmd_fit_workload(args) -> int:
    from sim.calibration.workload_fit import fit_workload
    from sim.calibration.workload_scenario import fitted_scenario_yaml, format_fit
    from sim.config import folder_name_problem, parse_duration_s
    step_s = None
    if args.step is not None:
        try:
            step_s = parse_duration_s(args.step)
        except ValueError as err:
            raise ScenarioError(f"--step: {err}") from None
        if not 1 <= step_s <= 86400:
            raise ScenarioError(f"--step: must be between 1 s and a day, got {args.step}")
    if args.name is not None and folder_name_problem(args.name):
        raise ScenarioError(f"--name: {folder_name_problem(args.name)}")
    out = _check_scenario_out(args.out, args.force) if args.out else None
    trace = read_trace_arg(args)
    try:
        fit = fit_workload(trace, args.trace, step_s=step_s)
    except ValueError as err:
        raise ScenarioError(f"trace {args.trace}: {err}") from None
    print(format_fit(fit))
    if out is not None:
        from sim.config import validate_scenario
        import yaml
        text = fitted_scenario_yaml(fit, args.tokens, args.name)
        validate_scenario(yaml.safe_load(text))         # what run will accept, checked before writing
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(text)
        tmp.replace(out)
        print(f"\nscenario: {out} (tokens: {args.tokens}); simulate it with: python -m sim run {out}")
    return 0


def _check_scenario_out(out: str, force: bool, marker: str | None = None, command: str = "fit-workload") -> Path:
    """``-o`` of fit-workload or import: a file it may write (a new one, or one it wrote before, or --force)."""
    if marker is None:
        from sim.calibration.workload_scenario import SCENARIO_MARKER as marker
    path = Path(out).expanduser()
    if path.is_dir():
        raise ScenarioError(f"-o {out}: is a folder; give a file name such as workload.yaml")
    if path.exists() and not force:
        try:
            first = path.read_text(errors="replace").split("\n", 1)[0]
        except OSError as err:
            raise ScenarioError(f"-o {out}: cannot read the existing file: {err.strerror or err}") from None
        if not first.startswith(marker):
            raise ScenarioError(f"-o {out}: exists and was not written by {command}; use --force to replace it")
    if not path.parent.is_dir():
        raise ScenarioError(f"-o {out}: folder {path.parent} does not exist")
    return path


def cmd_validate_workload(args) -> int:
    from sim.config import load_scenario
    from sim.results import atomic_dir, check_out_dir
    check_seed(args.seed)
    if args.replications < 1:
        raise ScenarioError("--replications: must be at least 1")
    scenario = load_scenario(args.scenario)
    if scenario.workload.trace is not None:
        raise ScenarioError(f"{args.scenario}: workload.trace replays a trace; there is no fitted workload to "
                            "validate")
    out = check_out_dir(args.out if args.out else Path("results") / f"{scenario.name}_validation",
                        scenario.name, args.force)
    trace = read_trace_arg(args)
    if len(trace) < 2:
        raise ScenarioError(f"trace {args.trace}: needs at least two requests")
    from sim.calibration.workload_validation import validate_workload
    from sim.report.tables import format_frame
    validation = validate_workload(trace, scenario, args.replications, args.seed)
    with atomic_dir(out, replications=args.replications, seed=validation.seed) as tmp:
        (tmp / "scenario.yaml").write_text(scenario.to_yaml())
        validation.table.to_csv(tmp / "validation.csv", index=False)
        validation.fano_curve.to_csv(tmp / "fano_curve.csv", index=False)
        if not args.no_charts:
            from sim.report.workload_charts import workload_validation_chart
            workload_validation_chart(validation, tmp / "validation.png",
                                      f"{Path(args.trace).name}: trace vs {scenario.name} vs Poisson "
                                      f"({args.replications} draws of each model)")
    if not args.quiet:
        print(format_frame(validation.table))
        for note in validation.notes:
            print(f"note: {note}")
    print(f"{'' if args.quiet else chr(10)}results: {out}/")
    return 0


def cmd_serve(args) -> int:
    from sim.config import load_scenario, serve_settings
    settings = serve_settings(port=args.port, speed=args.speed, duration_s=args.duration, max_calls=args.max_calls,
                              max_hang_s=args.max_hang, seed=args.seed)
    scenario = load_scenario(args.scenario, args.overrides)
    if args.log:
        from sim.live.providers import check_log_path
        check_log_path(Path(args.log).expanduser().absolute())
    try:
        from sim.live.server import serve
    except ImportError as err:
        raise ScenarioError(f"sim serve needs aiohttp ({err}): pip install -e '.[live]'") from None
    try:
        reason, calls = serve(scenario, settings, args.log, announce=lambda text: print(text, flush=True))
    except OSError as err:          # the port is taken, or not ours to listen on
        raise ScenarioError(f"--port {settings.port}: cannot listen on {settings.host}: {err.strerror or err}") \
            from None
    print(f"stopped: {reason}; {len(calls)} call{'' if len(calls) == 1 else 's'} served", flush=True)
    if not args.quiet and len(calls):
        from sim.report.tables import format_frame
        table = calls.groupby(["provider", "model", "status"], observed=True).agg(
            calls=("status", "size"), mean_duration_s=("duration_s", "mean"), cost_usd=("cost_usd", "sum"))
        print(format_frame(table.reset_index()))
    if args.log:
        print(f"calls log: {Path(args.log).expanduser().absolute()}")
    return EXIT_INTERRUPTED if "SIGINT" in reason else EXIT_TERMINATED if "SIGTERM" in reason else 0


if __name__ == "__main__":
    sys.exit(main())
