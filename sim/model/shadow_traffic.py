"""Shadow traffic: mirror a share of production requests to a candidate model, judge, never answer.

After a request has been answered, with probability ``share`` the same prompt is sent to the candidate
target as well, off the user's path (its own SimPy process: the user does not wait for it). The candidate's
call passes its provider's limits (a 429, or a call too large for them, loses the sample rather than queueing production behind it), is
recorded in ``calls`` with ``shadow=True`` and billed separately (it is not part of any request's cost), and
a noisy judge compares the two answers (:class:`sim.policies.shadow_evaluator.ShadowEvaluator`), which decides when
the candidate may be promoted. Mirroring stops once the evaluator has decided (calls in flight then still
finish), and the kill switch's soft limit stops it too.
"""
from __future__ import annotations

from sim.model.providers import OK
from sim.model.streams import Streams
from sim.policies.shadow_evaluator import ShadowEvaluator


class ShadowTraffic:
    def __init__(self, env, settings, target, recorder, streams: Streams):
        self.env = env
        self.target = target
        self.share = settings.share
        self.rec = recorder
        self.evaluator = ShadowEvaluator(settings)
        self._pick_u = streams.uniform("shadow.pick")
        self._judge_u = streams.uniform("shadow.judge")
        self.cost_usd = 0.0
        self.lost_to_limits = 0

    def maybe_mirror(self, i: int, in_tok: int, out_tok: int) -> None:
        """Mirror request ``i`` with probability ``share``, until the evaluator has decided."""
        if self._pick_u() < self.share and not self.evaluator.decided:
            self.env.process(self._mirror(i, in_tok, out_tok))

    def _mirror(self, i: int, in_tok: int, out_tok: int):
        env, target = self.env, self.target
        limits = target.provider.limits
        if target.model.rejects(in_tok, out_tok):       # over the candidate's context window: a lost sample
            self.lost_to_limits += 1
            return
        charged = out_tok if limits is None else limits.charged_output(out_tok, target.model.requested_max_tokens)
        if limits is not None and not limits.try_admit(env.now, in_tok, charged).admitted:
            self.lost_to_limits += 1
            return
        start = env.now
        answer = target.model.draw(in_tok, out_tok, lane=2)
        yield env.timeout(answer.duration_s)
        if charged > out_tok:
            limits.settle(env.now, charged, out_tok)
        self.rec.call(request_id=i, call_index=-1, attempt=1, target=target.code, start_s=start,
                      end_s=start + answer.duration_s, status=answer.status, input_tokens=in_tok,
                      output_tokens=out_tok, cost_usd=answer.cost_usd, hallucinated=answer.hallucinated,
                      parse_failed=answer.parse_failed, shadow=True)
        self.cost_usd += answer.cost_usd
        baseline_failed = bool(self.rec.hallucinated[i] or self.rec.parse_failed[i])
        candidate_failed = answer.status != OK or answer.hallucinated or answer.parse_failed
        self.evaluator.record(baseline_failed, candidate_failed, self._judge_u(), self._judge_u(), env.now)
