"""The scenario's providers as a live service decides them: one call in, its fate out, in scenario time.

This is the part of ``sim serve`` that knows nothing of HTTP. A call arrives for a provider and model at
scenario time ``now`` with its input tokens (counted from its messages) and the output it asks for; the
decision follows the simulator's own order and policy classes, so a live call meets exactly the rules a
simulated attempt meets (:meth:`sim.model.request.RequestFlow._attempts`):

1. the model's context window and maximum output (:meth:`ModelRuntime.rejects_asked`): a 400;
2. the provider's rate limits (:class:`ProviderLimits`, a :class:`sim.policies.rate_limits.ProviderRateLimits`),
   shrunk by an active ``rate_limit`` fault: a 429 with the slowest bucket's Retry-After, or "request too
   large" when a call exceeds a whole minute's limit;
3. the fault timeline (:meth:`sim.faults.FaultTimeline.call_effect`): a spurious 429, a forced failure (an
   outage fails fast or hangs), slower answers, likelier wrong ones;
4. the model's draw (:meth:`ModelRuntime.draw`): error, refusal, an answer after its time to first token and
   streaming time, hallucinated or unparseable, or longer than the client's timeout (the server then hangs).

Every call becomes a row of the simulator's ``calls`` frame (:data:`sim.record.CALL_COLUMNS`, built by
:func:`sim.model.run.calls_frame`). Draws come from the scenario's named streams under the same names as in a
simulation (``latency/<provider>/<model>``...), plus ``live/output_tokens`` for calls that send no
``max_tokens``. A request's later calls (the gateway's retries and fallbacks, seen by the ``x-sim-request-id``
they share) draw from the retry lane, as simulated retries do.
"""
from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from sim.config import Scenario, ServeSettings
from sim.faults import FaultTimeline
from sim.model.providers import ModelRuntime, ProviderLimits
from sim.model.request import SPURIOUS_RETRY_AFTER_S
from sim.model.streams import Streams
from sim.model.workload import sample_tokens
from sim.policies.rate_limits import BucketLevel
from sim.record import CALL_COLUMNS, CALL_STATUS, GrowableColumns

OK, ERROR, TIMEOUT, RATE_LIMITED, REFUSED, TOO_LARGE, CONTEXT_EXCEEDED = (
    CALL_STATUS[s] for s in ("ok", "error", "timeout", "rate_limited", "refused", "too_large", "context_exceeded"))
NO_REQUEST_ID = -1


class Decision(NamedTuple):
    """How a live call ends, in scenario seconds from its start; ``forced`` = a fault made it fail."""

    status: int                       # a CALL_STATUS code
    duration_s: float                 # until the answer or the error (math.inf = hang)
    ttft_s: float = math.nan
    output_tokens: int = 0
    cost_usd: float = 0.0
    hallucinated: bool = False
    parse_failed: bool = False
    retry_after_s: float | None = None
    forced: bool = False
    unused_output: float = 0.0        # reserved output tokens to give back when the call ends (OpenAI's rule)


@dataclass
class ServedProvider:
    """One provider of the scenario, live: its limits, its concurrency slots, its models."""

    name: str
    limits: ProviderLimits | None
    slots: asyncio.Semaphore | None
    models: dict[str, ModelRuntime]
    codes: dict[str, int] = field(default_factory=dict)      # model name -> target code in the calls frame


class ServedScenario:
    """The scenario's providers and fault timeline, deciding calls at scenario times (see the module doc)."""

    def __init__(self, scenario: Scenario, settings: ServeSettings):
        self.scenario = scenario
        self.settings = settings
        seed = scenario.seed if settings.seed is None else settings.seed
        streams = Streams(seed)
        self.providers: dict[str, ServedProvider] = {}
        self.target_providers: list[str] = []
        self.target_models: list[str] = []
        self.target_tiers: list[str] = []
        for pconf in scenario.providers:
            limits = ProviderLimits(pconf)
            served = ServedProvider(pconf.name, limits if limits.active else None,
                                    asyncio.Semaphore(pconf.max_concurrency) if pconf.max_concurrency else None,
                                    {m.name: ModelRuntime(pconf.name, m, streams) for m in pconf.models})
            for mconf in pconf.models:
                served.codes[mconf.name] = len(self.target_providers)
                self.target_providers.append(pconf.name)
                self.target_models.append(mconf.name)
                self.target_tiers.append(mconf.tier)
            self.providers[pconf.name] = served
        self.faults = FaultTimeline(scenario.faults, streams.uniform, scenario.regions) if scenario.faults else None
        self._output_rng = streams.generator("live/output_tokens")
        self._output_tokens = iter(())
        self.calls = GrowableColumns(CALL_COLUMNS)
        self._attempts: dict[int, int] = {}

    # ------------------------------------------------------------------ deciding a call
    def output_tokens(self, max_tokens: int | None) -> int:
        """The output a call produces: its ``max_tokens``, else a draw from the workload's output tokens."""
        if max_tokens is not None:
            return int(max_tokens)
        drawn = next(self._output_tokens, None)
        if drawn is None:           # a block of draws at a time, as the simulator draws its columns
            block = sample_tokens(self.scenario.workload.output_tokens, 1024, self._output_rng,
                                  "workload.output_tokens")
            self._output_tokens = iter(block.tolist())
            drawn = next(self._output_tokens)
        return int(drawn)

    def attempt_of(self, request_id: int) -> int:
        """This call's attempt number within its request (1 for the first call seen with that id)."""
        if request_id == NO_REQUEST_ID:
            return 1
        attempt = self._attempts[request_id] = self._attempts.get(request_id, 0) + 1
        return attempt

    def decide(self, provider: ServedProvider, model: ModelRuntime, now: float, input_tokens: int,
               output_tokens: int, max_tokens: int | None, attempt: int = 1) -> Decision:
        """The fate of one call arriving at scenario time ``now`` (the steps of the module docstring)."""
        asked = output_tokens if max_tokens is None else max_tokens
        if model.rejects_asked(input_tokens, asked):
            return Decision(CONTEXT_EXCEEDED, 0.0, output_tokens=output_tokens)
        unused = 0.0
        limits = provider.limits
        if limits is not None:
            # a rate_limit fault cutting the limits to a factor f makes each call weigh 1/f of them
            scale = 1.0 / self.faults.limit_factor(provider.name, model.label, now) if self.faults else 1.0
            in_tok = input_tokens * scale
            out_tok = limits.charged_output(output_tokens, max_tokens) * scale
            unused = out_tok - output_tokens * scale
            admission = limits.try_admit(now, in_tok, out_tok, scale)
            if admission.too_large:
                return Decision(TOO_LARGE, 0.0, output_tokens=output_tokens)
            if not admission.admitted:
                return Decision(RATE_LIMITED, 0.0, output_tokens=output_tokens, retry_after_s=admission.retry_after_s)
        effect = self.faults.call_effect(provider.name, model.label, now) if self.faults else None
        if effect is not None and effect.forced_status == RATE_LIMITED:
            return Decision(RATE_LIMITED, 0.0, output_tokens=output_tokens, retry_after_s=SPURIOUS_RETRY_AFTER_S,
                            forced=True, unused_output=unused)
        answer = model.draw(input_tokens, output_tokens, 0 if attempt <= 1 else 1, effect)
        forced = effect is not None and effect.forced_status is not None
        duration = math.inf if answer.status == TIMEOUT else answer.duration_s
        return Decision(answer.status, duration, answer.ttft_s, output_tokens, answer.cost_usd,
                        answer.hallucinated, answer.parse_failed, None, forced, unused)

    def finish(self, provider: ServedProvider, now: float, decision: Decision) -> None:
        """The call has ended at ``now``: give back the output it reserved but did not use."""
        if decision.unused_output > 0 and provider.limits is not None:
            provider.limits.settle(now, decision.unused_output, 0.0)

    def levels(self, provider: ServedProvider, now: float) -> list[BucketLevel]:
        return provider.limits.levels(now) if provider.limits is not None else []

    # ------------------------------------------------------------------ the calls log
    def record(self, *, request_id: int, attempt: int, target: int, start_s: float, end_s: float, status: int,
               input_tokens: int, output_tokens: int, cost_usd: float = 0.0, hallucinated: bool = False,
               parse_failed: bool = False) -> None:
        """One call as a row of ``calls`` (``call_index`` 0: the server cannot see a request's later LLM calls
        apart from its retries)."""
        calls = self.calls
        j = calls.next_row()
        row = {"request_id": request_id, "call_index": 0, "attempt": attempt, "target": target,
               "start_s": start_s, "end_s": end_s, "status": status, "input_tokens": input_tokens,
               "output_tokens": output_tokens, "cost_usd": cost_usd, "hallucinated": hallucinated,
               "parse_failed": parse_failed, "shadow": False}
        for name, value in row.items():
            calls.columns[name][j] = value

    @property
    def n_calls(self) -> int:
        return self.calls.size

    def calls_frame(self) -> pd.DataFrame:
        """Every call so far, in the simulator's ``calls`` shape, by start time."""
        from sim.model.run import calls_frame
        columns = {name: col[:self.calls.size].copy() for name, col in self.calls.columns.items()}
        frame = calls_frame(columns, self.target_providers + [""], self.target_models + [""],
                            self.target_tiers + [""])
        order = np.argsort(frame["start_s"].to_numpy(), kind="stable")
        return frame.iloc[order].reset_index(drop=True)


# ------------------------------------------------------------------------------------- writing the log

LOG_MARKER = b"llm-traffic-sim"
"""Parquet metadata key of a calls log this package wrote: only such a file is ever replaced."""


def write_calls_log(frame: pd.DataFrame, path, scenario_name: str) -> None:
    """Write the calls log as Parquet, atomically (a temporary file renamed into place); refuse to replace a
    file this package did not write. ScenarioError naming ``--log`` when the path cannot be used."""
    import os
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    from sim.errors import ScenarioError
    path = Path(path).expanduser().absolute()
    check_log_path(path)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[LOG_MARKER] = f"sim serve calls log of scenario {scenario_name}".encode()
    table = table.replace_schema_metadata(meta)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ScenarioError(f"--log {path}: cannot write there: {err.strerror or err}") from None


def check_log_path(path) -> None:
    """ScenarioError unless ``path`` can hold the calls log: its folder exists and it is new or a log we wrote."""
    from pathlib import Path

    import pyarrow.parquet as pq

    from sim.errors import ScenarioError
    path = Path(path)
    if not path.parent.is_dir():
        raise ScenarioError(f"--log {path}: folder {path.parent} does not exist")
    if path.suffix != ".parquet":
        raise ScenarioError(f"--log {path}: the calls log is a Parquet file; give a name ending in .parquet")
    if path.exists():
        try:
            ours = LOG_MARKER in (pq.read_schema(path).metadata or {})
        except Exception:           # not Parquet at all, unreadable: not ours either way
            ours = False
        if not ours:
            raise ScenarioError(f"--log {path}: exists and was not written by sim serve (nothing there is "
                                "replaced); choose another name")
