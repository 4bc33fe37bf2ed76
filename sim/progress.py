"""Progress bars on stderr for long commands: how far along, and when it will end.

A sweep of 200 runs or one run of a simulated month can take minutes; a bar with a count and an estimated
time to finish (ETA) tells the user whether to wait or go for coffee. :func:`progress` is a context manager
yielding a callback ``on_run(done, total)``: the code that runs things calls it after each run (the
replications, a sweep's executor, the variants) without knowing whether anyone draws a bar. The bar is drawn
by tqdm on stderr, and only when stderr is a terminal and ``quiet`` is false: output piped into a file or a
CI log stays clean. A single long run reports by simulated time instead: ``simulate(..., on_progress=f)``
calls ``f(fraction)``; :func:`fraction_callback` turns such a bar into that hook.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

OnRun = Callable[[int, int], None]
"""``on_run(done, total)``: called after each completed run with the count done so far and the total."""


def _silent(done: int, total: int) -> None:
    return None


def wants_bar(quiet: bool = False) -> bool:
    """Whether a bar would be seen: stderr is a terminal and the user did not ask for quiet."""
    return not quiet and sys.stderr.isatty()


@contextmanager
def progress(total: int, unit: str = "run", desc: str | None = None, quiet: bool = False) -> Iterator[OnRun]:
    """A callback ``on_run(done, total)`` drawing a tqdm bar with ETA on stderr (a no-op when not shown)."""
    if not wants_bar(quiet):
        yield _silent
        return
    from tqdm import tqdm
    with tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True) as bar:
        def on_run(done: int, total_now: int) -> None:
            if total_now != bar.total:
                bar.total = total_now
            bar.update(done - bar.n)
        yield on_run


def fraction_callback(on_run: OnRun, steps: int = 100) -> Callable[[float], None]:
    """``on_progress(fraction)`` for :func:`sim.model.run.simulate`, drawn on a bar of ``steps`` steps."""
    return lambda fraction: on_run(round(fraction * steps), steps)
