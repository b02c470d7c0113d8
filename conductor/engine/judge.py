"""Decide what happens after each attempt of a batch: the recovery rules at work.

Once per batch (and only when something failed) it reads the operators' error rules
and the retry policy of each job type involved; whether an error is retryable
(``recovery.classify``) and how long to wait (``recovery.backoff``) are pure decisions,
and ``conductor.outcomes.decide`` turns them into an outcome.
"""

import json
import random
from collections.abc import Callable, Sequence

from conductor.engine.execute import Finished, Ran
from conductor.models import JobType
from conductor.outcomes import decide
from recovery import backoff, classify
from recovery import selectors as recovery_selectors


def judge_batch(
    rans: Sequence[Ran], *, rand: Callable[[], float] = random.random
) -> list[Finished]:
    failing = [r for r in rans if r.error is not None and not r.cancelled]
    judge = _Judge(failing) if failing else None
    return [_finished(ran, judge, rand) for ran in rans]


def _finished(ran: Ran, judge: "_Judge | None", rand) -> Finished:
    retryable = delay_ms = None
    if judge is not None and ran.error is not None and not ran.cancelled:
        retryable, delay_ms = judge.verdict(ran, rand())
    for_breaker = not ran.cancelled and (ran.error is None or bool(retryable))
    outcome = decide(
        error=ran.error,
        result=ran.result,
        attempt=ran.job.attempt,
        max_retries=ran.job.max_retries,
        now=ran.finished_at,
        cancelled=ran.cancelled,
        retryable=retryable,
        delay_ms=delay_ms,
    )
    return Finished(
        ran.job, outcome, ran.finished_at, ran.duration_ms, ran.result_file,
        ran.result_reference, for_breaker,
    )  # fmt: skip


class _Judge:
    """Rules and policies for one batch, read once."""

    def __init__(self, failing: Sequence[Ran]):
        self.rules = recovery_selectors.error_rules()
        names = {r.job.type for r in failing}
        self.types = {t.name: t for t in JobType.objects.filter(name__in=names)}
        self.policies: dict[tuple[str, str], object] = {}

    def policy(self, ran: Ran):
        key = (ran.job.type, json.dumps(ran.job.retry_policy, sort_keys=True))
        if key not in self.policies:
            job_type = self.types.get(ran.job.type) or JobType(name=ran.job.type)
            self.policies[key] = recovery_selectors.retry_policy_for(
                job_type=job_type, job_policy=ran.job.retry_policy
            )
        return self.policies[key]

    def verdict(self, ran: Ran, rand: float) -> tuple[bool, int]:
        policy = self.policy(ran)
        verdict = classify.classify(
            code=ran.error.code,
            exception_class=ran.error.exception_class,
            handler_retryable=ran.error.retryable,
            rules=self.rules,
            policy=policy,
        )
        delay = backoff.delay_ms(policy, attempt=ran.job.attempt, rand=rand)
        return verdict.retryable, delay
