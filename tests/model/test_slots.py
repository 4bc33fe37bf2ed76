"""SlotPool: simpy.Resource with an O(1) release must grant the same slots, in the same order, at the same times."""
import random

import simpy

from sim.model.slots import SlotPool


def _trace(pool_class, seed: int, capacity: int, customers: int = 400) -> list[tuple]:
    """A random workload of holders, impatient waiters (cancelled requests) and out-of-order releases."""
    env = simpy.Environment()
    pool = pool_class(env, capacity)
    rng = random.Random(seed)
    log = []

    def customer(k: int):
        yield env.timeout(rng.expovariate(3.0) * k / 10)
        request = pool.request()
        patience = rng.choice([None, rng.expovariate(0.5)])
        if patience is None:
            yield request
        else:
            yield request | env.timeout(patience)
            if not request.triggered:
                request.cancel()
                log.append(("gave_up", k, env.now))
                return
        log.append(("granted", k, env.now, len(pool.users), len(pool.queue)))
        yield env.timeout(rng.expovariate(1.0))
        pool.release(request)
        log.append(("released", k, env.now))

    for k in range(customers):
        env.process(customer(k))
    env.run()
    return log


def test_the_pool_grants_exactly_as_simpy_resource_does():
    for seed in range(5):
        for capacity in (1, 3, 17):
            reference = _trace(simpy.Resource, seed, capacity)
            assert len(reference) > 400 and any(e[0] == "gave_up" for e in reference)
            assert _trace(SlotPool, seed, capacity) == reference, (seed, capacity)


def test_releasing_a_request_that_holds_nothing_is_ignored_as_simpy_ignores_it():
    env = simpy.Environment()
    pool = SlotPool(env, 1)
    held, waiting = pool.request(), pool.request()
    env.run()
    waiting.cancel()
    pool.release(waiting)                     # never held a slot: SimPy swallows the ValueError
    env.run()
    assert list(pool.users) == [held] and pool.count == 1
    pool.release(held)
    env.run()
    assert pool.count == 0 and held not in pool.users
