"""A pool of slots (gateway workers, a provider's concurrency cap) whose release costs the same at any size.

``simpy.Resource`` keeps the requests holding its slots in a list, and a release removes its request from
that list: a scan of every holder. With a few slots that is nothing; a gateway pool of thousands of workers
(the demo at 100x its traffic holds ~3,000) pays it on every request, which made the time per request grow
with the traffic. :class:`SlotPool` is ``simpy.Resource`` with the holders kept in an insertion-ordered
dict instead: the same grants in the same order at the same times, and a release that no longer depends on
the pool's size. The same holds for the waiting line: SimPy keeps it in a list, grants its first request with
``pop(0)`` (which moves every other one) and removes an impatient request that gives up with ``remove`` (a
scan); at the peak of a 10M-request day the gateway's line holds hundreds of thousands. Both are kept in an
``OrderedDict`` (:class:`_RequestsInOrder`): first come, first served as before, each operation O(1).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterator

import simpy


class _RequestsInOrder:
    """Requests in the order they came (a pool's holders, or its waiting line): the part of a list's interface
    SimPy's resources use -- ``append``; ``[0]`` and ``pop(0)``, the first in line; ``remove``, raising
    ValueError for a request that is not there; ``len``; iteration -- each O(1) on an ``OrderedDict``."""

    __slots__ = ("_requests",)

    def __init__(self) -> None:
        self._requests: OrderedDict = OrderedDict()

    def append(self, request) -> None:
        self._requests[request] = None

    def __getitem__(self, index: int):
        if index == 0:
            return next(iter(self._requests))
        return list(self._requests)[index]          # SimPy's Resource only ever asks for the first

    def pop(self, index: int = -1):
        if index == 0:
            return self._requests.popitem(last=False)[0]
        request = list(self._requests)[index]
        del self._requests[request]
        return request

    def remove(self, request) -> None:
        try:
            del self._requests[request]
        except KeyError:
            raise ValueError("the request is not in this pool's line or among its holders") from None

    def __len__(self) -> int:
        return len(self._requests)

    def __iter__(self) -> Iterator:
        return iter(self._requests)

    def __contains__(self, request) -> bool:
        return request in self._requests


class SlotPool(simpy.Resource):
    """``simpy.Resource`` with an O(1) release, grant and give-up (see the module docstring)."""

    PutQueue = _RequestsInOrder

    def __init__(self, env: simpy.Environment, capacity: int = 1):
        super().__init__(env, capacity)
        self.users = _RequestsInOrder()
