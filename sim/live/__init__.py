"""Live mode: the same scenario file played against real software, in (compressed) wall-clock time.

The simulator answers "what would happen" in seconds, but only as well as it models the gateway. Live mode
closes the loop with the real thing:

* ``python -m sim serve SCENARIO`` (:mod:`sim.live.server`) is a fake of the scenario's providers on loopback:
  OpenAI- and Anthropic-compatible endpoints that answer, stream, rate-limit, fail and hang as the scenario's
  providers and fault timeline say, decided by the simulator's own policy classes (the token buckets of
  :mod:`sim.policies.rate_limits`, :meth:`sim.model.providers.ModelRuntime.draw`,
  :meth:`sim.faults.FaultTimeline.call_effect`), and logs every call in the simulator's ``calls`` shape.
* ``python -m sim drive SCENARIO --target URL`` (:mod:`sim.live.driver`) replays the scenario's workload against
  a real endpoint (a gateway in front of ``sim serve``) and records the client-side ``requests`` frame.

Both play scenario time through one :class:`sim.live.clock.LiveClock` (``--speed 60``: a scenario minute per
wall second). aiohttp is an optional dependency (``pip install -e '.[live]'``), imported only by the commands
that need it; docs/live_mode.md describes the URL layout, headers, the token approximation and what time
compression distorts.
"""
