"""Error classification: is a failed attempt worth retrying?

Pure: the caller passes the error's code, its exception class name, the handler's
own opinion, the operator's rules and the job's retry policy; nothing is read.

An error carries a ``code``: the one a handler gave (``JobError("HTTP_5XX")``) or,
for any other exception, its class name (``ConnectionError``). ``exception_class``
is the class name when an exception was raised (possibly dotted:
``requests.exceptions.ConnectionError``).

Precedence (the first layer with an answer decides)
---------------------------------------------------
=====  ================================  ==========================================
layer  source                            matches / reason
=====  ================================  ==========================================
1      policy ``non_retryable_errors``   code or exception class ->
                                         "policy non_retryable_errors"
2      policy ``retryable_errors``       code or exception class ->
                                         "policy retryable_errors"
3      operator rules (admin rows)       code rules the code, exception rules the
                                         exception class -> "rule #3 code HTTP_5XX"
4      the handler's ``retryable`` flag  when not None -> "handler"
5      SPEC's default lists              the code -> "default list"
6      anything else                     retryable ->
                                         "unknown code: retryable by default"
=====  ================================  ==========================================

- Layers 1-2: the job's own policy is the most specific statement there is, so it
  overrides everything; a code in both lists is not retried (layer 1 comes first):
  refusing to retry is the safe reading of a contradiction.
- Layer 3: rules are tried lowest ``order`` first; at the same order an exact
  pattern beats a wildcard, a longer wildcard prefix beats a shorter one, and then
  the earlier rule in the sequence wins. The reason names ``#id`` when the rule has
  one (its database row), else its 1-based position in ``rules``.
- Layer 4 sits below the operator's rules on purpose: an operator who has learnt
  that a service's "permanent" errors clear up must be able to overrule the code
  that raised them.
- Layer 6: an unknown code is retried, as Sidekiq and Celery's autoretry do: most
  unexpected failures (a dropped socket, a deploy in progress) are transient, the
  retry count bounds the cost of being wrong, and a job dead-lettered on its first
  surprise loses work that a retry would have saved.

Patterns (policy lists and rules) are case-sensitive: either exact (``HTTP_5XX``)
or a prefix ending in ``*`` (``HTTP_*``; ``*`` alone matches everything). Only a
trailing ``*`` is a wildcard; one elsewhere is an ordinary character, so a
mistyped admin row matches nothing rather than failing every classification. A
pattern without a dot matches an exception class by its last dotted component, so
``ConnectionError`` matches ``requests.exceptions.ConnectionError``. Subclasses are
not matched: a rule names the class that was raised.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from recovery.backoff import Policy

DEFAULT_RETRYABLE = frozenset(
    {"TIMEOUT", "CONNECTION_ERROR", "HTTP_5XX", "RATE_LIMITED", "SERVICE_UNAVAILABLE"}
)
DEFAULT_NON_RETRYABLE = frozenset(
    {"VALIDATION_ERROR", "HTTP_4XX", "AUTH_ERROR", "NOT_FOUND"}
)
MATCHES = ("code", "exception")


@dataclass(frozen=True)
class Rule:
    match: str  # "code" | "exception"
    pattern: str  # exact, or a prefix ending in "*" (the only wildcard)
    retryable: bool
    order: int = 0
    id: int | None = None  # the admin row, named in the verdict's reason

    def __post_init__(self) -> None:
        if self.match not in MATCHES:
            raise ValueError(f"match must be code or exception, not {self.match!r}")
        if not self.pattern:
            raise ValueError("a rule needs a pattern")

    @property
    def is_wildcard(self) -> bool:
        return self.pattern.endswith("*")

    def matches(self, *, code: str, exception_class: str) -> bool:
        if self.match == "code":
            return matches(self.pattern, code)
        return matches(self.pattern, exception_class)


@dataclass(frozen=True)
class Verdict:
    retryable: bool
    reason: str


def classify(
    *,
    code: str,
    exception_class: str = "",
    handler_retryable: bool | None = None,
    rules: Sequence[Rule] = (),
    policy: Policy | None = None,
) -> Verdict:
    """Decide whether the error is retryable, and which layer decided."""
    return (
        _by_policy(policy, code, exception_class)
        or _by_rules(rules, code, exception_class)
        or _by_handler(handler_retryable)
        or _by_default(code)
    )


def matches(pattern: str, value: str) -> bool:
    """Does ``pattern`` (exact or ``prefix*``) match ``value`` (see the docstring)?"""
    if not value:
        return False
    candidates = {value}
    if "." not in pattern.rstrip("*"):
        candidates.add(value.rpartition(".")[2])
    if pattern.endswith("*"):
        return any(c.startswith(pattern[:-1]) for c in candidates)
    return pattern in candidates


def _by_policy(policy: Policy | None, code: str, exception: str) -> Verdict | None:
    if policy is None:
        return None
    lists = (
        ("non_retryable_errors", policy.non_retryable_errors, False),
        ("retryable_errors", policy.retryable_errors, True),
    )
    for name, patterns, retryable in lists:
        if any(matches(p, code) or matches(p, exception) for p in patterns):
            return Verdict(retryable, f"policy {name}")
    return None


def _by_rules(rules: Sequence[Rule], code: str, exception: str) -> Verdict | None:
    ranked = sorted(enumerate(rules, start=1), key=_rank)
    for position, rule in ranked:
        if rule.matches(code=code, exception_class=exception):
            name = rule.id if rule.id is not None else position
            return Verdict(rule.retryable, f"rule #{name} {rule.match} {rule.pattern}")
    return None


def _rank(numbered: tuple[int, Rule]) -> tuple[int, bool, int, int]:
    position, rule = numbered
    return (rule.order, rule.is_wildcard, -len(rule.pattern), position)


def _by_handler(handler_retryable: bool | None) -> Verdict | None:
    if handler_retryable is None:
        return None
    return Verdict(handler_retryable, "handler")


def _by_default(code: str) -> Verdict:
    if code in DEFAULT_NON_RETRYABLE:
        return Verdict(False, "default list")
    if code in DEFAULT_RETRYABLE:
        return Verdict(True, "default list")
    return Verdict(True, "unknown code: retryable by default")
