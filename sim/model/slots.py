"""A pool of slots (gateway workers, a provider's concurrency cap) whose release costs the same at any size.

``simpy.Resource`` keeps the requests holding its slots in a list, and a release removes its request from
that list: a scan of every holder. With a few slots that is nothing; a gateway pool of thousands of workers
(the demo at 100x its traffic holds ~3,000) pays it on every request, which made the time per request grow
with the traffic. :class:`SlotPool` is ``simpy.Resource`` with the holders kept in an insertion-ordered
dict instead: the same grants in the same order at the same times (waiting requests are still served first
come, first served from SimPy's own queue), and a release that no longer depends on the pool's size.
"""
from __future__ import annotations

from typing import Iterator

import simpy


class _Holders:
    """The requests holding a pool's slots: the part of a list's interface ``simpy.Resource`` uses
    (``append``, ``remove`` raising ValueError for a request not held, ``len``, iteration in order)."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[simpy.resources.resource.Request, None] = {}

    def append(self, request) -> None:
        self._held[request] = None

    def remove(self, request) -> None:
        try:
            del self._held[request]
        except KeyError:
            raise ValueError("the request does not hold a slot of this pool") from None

    def __len__(self) -> int:
        return len(self._held)

    def __iter__(self) -> Iterator:
        return iter(self._held)

    def __contains__(self, request) -> bool:
        return request in self._held


class SlotPool(simpy.Resource):
    """``simpy.Resource`` with an O(1) release (see the module docstring)."""

    def __init__(self, env: simpy.Environment, capacity: int = 1):
        super().__init__(env, capacity)
        self.users = _Holders()
