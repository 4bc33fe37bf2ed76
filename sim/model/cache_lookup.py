"""The cache layer: the semantic cache as the request path meets it.

A request is embedded (it costs time and money), its vector is looked up, and the simulator, which knows
every query's true intent and when each intent's right answer last changed, classifies what came back:
``hit`` (the same intent, still current), ``false_hit`` (a different intent close enough to pass the
threshold: a wrong answer served), ``stale`` (the right intent, but its answer changed after the entry was
stored), or ``miss``. A miss goes on to the LLM, and its answer is stored according to the insert policy.

The query vectors come from the similarity model (:mod:`sim.model.similarity`), drawn for the whole run at
once; the cache is indexed by the topic centroids (an IVF-style coarse index searching the query's nearest
partitions), so a lookup among 10^5 entries stays in the tens of microseconds.
"""
from __future__ import annotations

import numpy as np

from sim.config import Scenario
from sim.model.similarity import AnswerVersions, SimilarityModel, SimilarityParams
from sim.model.streams import Streams
from sim.policies.semantic_cache import SemanticCache
from sim.record import CACHE_STATE

MISS, HIT, FALSE_HIT, STALE = (CACHE_STATE[s] for s in ("miss", "hit", "false_hit", "stale"))


class CacheLookup:
    def __init__(self, scenario: Scenario, intent_ids: np.ndarray, streams: Streams):
        settings = scenario.cache
        sim_settings = settings.similarity
        params = SimilarityParams(n_intents=scenario.workload.n_intents,
                                  **sim_settings.model_dump())
        model = SimilarityModel(params, streams.generator("similarity.model"))
        self.vectors, _, _ = model.query_vectors(streams.generator("similarity.queries"), intent_ids)
        self.cache = SemanticCache(params.dim, settings.capacity, settings.threshold, settings.ttl_s,
                                   eviction=settings.eviction, partition_centroids=model.topic_centroids,
                                   probe_neighbours=settings.probe_neighbours,
                                   insert_policy=settings.insert_policy)
        # where an entry is stored, and where a lookup searches
        self.partition, self.probes = self.cache.placements(self.vectors)
        self.intent = intent_ids.tolist()
        self.versions = AnswerVersions(streams.generator("answer.changes"), scenario.workload.n_intents,
                                       settings.answer_change_rate_per_day / 86400.0)
        self.embedding_usd_per_token = settings.embedding_usd_per_mtok / 1e6
        self.latency_s = settings.embedding_latency_s
        self.degraded_threshold = settings.degraded_threshold

    def classify(self, i: int, found, now: float) -> int:
        """hit, false_hit or stale, for request ``i`` served the entry ``found`` (payload: intent, wrong)."""
        entry_intent = found.payload[0]
        if entry_intent != self.intent[i]:
            return FALSE_HIT
        if self.versions.changed_between(entry_intent, found.inserted_at_s, now):
            return STALE
        return HIT

    def lookup(self, i: int, now: float):
        """(state, lookup) for request ``i``: a served state, or MISS with the nearest entry (or None)."""
        found = self.cache.lookup(self.vectors[i], now, self.probes[i])
        if found is None or not found.hit:
            return MISS, found
        return self.classify(i, found, now), found

    def degraded(self, i: int, found, now: float) -> int | None:
        """When no provider can answer: the state of serving the nearest entry, if it is close enough."""
        if found is None or found.similarity < self.degraded_threshold:
            return None
        return self.classify(i, found, now)

    def store(self, i: int, now: float, found, answer_wrong: bool) -> None:
        """Store request ``i``'s fresh answer (after a miss) if the insert policy wants it; the verified
        policy checks whether the nearest entry's answer would have been right (a near miss it can verify).
        A wrong answer (a hallucination) is stored as it is, and served wrong to every later hit."""
        best = found.similarity if found is not None else None
        was_correct = None if found is None else self.classify(i, found, now) == HIT
        if self.cache.should_insert(False, was_correct=was_correct, best_similarity=best):
            self.cache.insert(self.vectors[i], now, (self.intent[i], answer_wrong), self.partition[i])

    def verified_wrong(self, i: int, now: float) -> None:
        """A served answer was found wrong (false hit or stale): the verified policy stores a fresh one."""
        if self.cache.should_insert(True, was_correct=False):
            self.cache.insert(self.vectors[i], now, (self.intent[i], False), self.partition[i])
