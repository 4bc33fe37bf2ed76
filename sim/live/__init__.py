"""Live mode: the scenario played against real software, in wall-clock time.

A simulation is only as good as its model of the gateway. Live mode closes the loop: ``sim serve`` plays a
scenario's providers as HTTP endpoints on loopback (OpenAI- and Anthropic-shaped, with their limits, errors
and fault timeline), a real gateway (a LiteLLM Router, a proxy) sits in front of them, and ``sim drive``
replays the scenario's workload through that gateway, recording what the client saw in the simulator's own
``requests`` frame. The same scenario then runs in the simulator, and the two results compare column by
column. Time can be compressed (``--speed 60``: a simulated minute per wall second) through
:class:`sim.live.clock.LiveClock`, which serve and drive share.

Modules: :mod:`clock` (the shared clock), :mod:`server` (serve), :mod:`driver` (drive),
:mod:`litellm_router` (a real ``litellm.Router`` built from a LiteLLM proxy config, pointed at serve).
aiohttp and litellm are the optional ``live`` extra (``pip install -e '.[live]'``), imported only here.
"""
