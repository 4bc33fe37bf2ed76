"""Named random streams: one seed, an independent stream per concern.

A simulation draws arrival times, token counts, provider latencies, errors and answer quality. If all came
from one generator, making the provider a little slower would shift every later draw and change the traffic
itself; two designs could then not be compared on the same traffic. Here every concern has its own stream,
derived from the scenario seed and the stream's *name* (a ``numpy.random.SeedSequence`` child keyed by a
stable hash of the name), so:

- the same seed and name give the same numbers on any machine and in any process;
- adding or changing one component's draws leaves every other stream untouched;
- two variants of a design see the same arrivals, tokens and first-attempt provider draws (common random
  numbers) until their behaviour makes them ask for different things.

Replication ``k`` of a seed uses the ``k``-th spawned child of the seed's sequence. Scalar draws on the
per-request path come from :func:`block_stream`, which draws numpy blocks and hands out Python floats, since
one numpy scalar draw per event would cost more than the event itself.
"""
from __future__ import annotations

import itertools
import zlib
from typing import Callable

import numpy as np


def _name_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def block_stream(draw: Callable[[int], np.ndarray], block: int = 4096) -> Callable[[], float]:
    """Python floats from ``draw(size) -> ndarray``, drawn in vectorised blocks: each call returns the next
    float, and a block of ``block`` is drawn when the previous one is used up (the first on the first call).
    The callable is the ``__next__`` of a chain of blocks, so a call runs no Python code but the block draw."""
    blocks = map(lambda _: draw(block).tolist(), itertools.repeat(None))
    return itertools.chain.from_iterable(blocks).__next__


class Streams:
    """The named random streams of one run (seed, replication)."""

    def __init__(self, seed: int, replication: int = 0):
        self.seed = int(seed)
        self.replication = int(replication)
        self._sequence = np.random.SeedSequence(self.seed).spawn(self.replication + 1)[self.replication]
        self._generators: dict[str, np.random.Generator] = {}

    def generator(self, name: str) -> np.random.Generator:
        """The generator of the stream called ``name`` (created on first use, then reused)."""
        gen = self._generators.get(name)
        if gen is None:
            seq = np.random.SeedSequence(self._sequence.entropy,
                                         spawn_key=self._sequence.spawn_key + (_name_key(name),))
            gen = self._generators[name] = np.random.default_rng(seq)
        return gen

    def uniform(self, name: str) -> Callable[[], float]:
        return block_stream(self.generator(name).random)

    def normal(self, name: str) -> Callable[[], float]:
        return block_stream(self.generator(name).standard_normal)

    def exponential(self, name: str) -> Callable[[], float]:
        return block_stream(self.generator(name).standard_exponential)
