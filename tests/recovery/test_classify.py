"""Error classification (pure): every precedence layer, patterns and defaults."""

import pytest

from recovery.backoff import Policy
from recovery.classify import (
    DEFAULT_NON_RETRYABLE,
    DEFAULT_RETRYABLE,
    Rule,
    Verdict,
    classify,
)

POLICY = Policy(
    retryable_errors=("HTTP_4XX", "QUOTA_*", "PaymentDeclined", "BOTH"),
    non_retryable_errors=("HTTP_5XX", "BOTH", "legacy.errors.*"),
)
RULES = (
    Rule("code", "HTTP_*", True, order=10, id=4),
    Rule("code", "HTTP_5XX", False, order=10, id=3),
    Rule("exception", "ConnectionError", False, order=5, id=7),
    Rule("code", "CUSTOM_*", False, order=20),
    Rule("code", "CUSTOM_SLOW_*", True, order=20),
    Rule("code", "FLAKY", True, order=30, id=8),
    Rule("code", "FLAKY", False, order=30, id=9),
    Rule("exception", "requests.exceptions.Timeout", True, order=40, id=10),
)
LOW_WILDCARD = (Rule("code", "HTTP_*", True, order=1, id=1), *RULES)
CATCH_ALL = (Rule("code", "*", False, order=99, id=99),)


def verdict(retryable, reason):
    return Verdict(retryable=retryable, reason=reason)


# fmt: off
CASES = [
    # layer 1-2: the job's policy lists
    (dict(code="HTTP_5XX", policy=POLICY), verdict(False, "policy non_retryable_errors")),  # a default-retryable code the policy refuses
    (dict(code="HTTP_4XX", policy=POLICY), verdict(True, "policy retryable_errors")),  # a default-non-retryable code the policy retries
    (dict(code="BOTH", policy=POLICY), verdict(False, "policy non_retryable_errors")),  # in both lists: not retried
    (dict(code="QUOTA_EXCEEDED", policy=POLICY), verdict(True, "policy retryable_errors")),  # a wildcard entry
    (dict(code="DECLINED", exception_class="billing.PaymentDeclined", policy=POLICY), verdict(True, "policy retryable_errors")),  # an entry matching the exception class
    (dict(code="X", exception_class="legacy.errors.Broken", policy=POLICY), verdict(False, "policy non_retryable_errors")),  # a dotted wildcard entry
    (dict(code="HTTP_5XX", rules=RULES, policy=POLICY), verdict(False, "policy non_retryable_errors")),  # the policy beats the rules
    (dict(code="HTTP_4XX", handler_retryable=False, policy=POLICY), verdict(True, "policy retryable_errors")),  # ...and the handler
    (dict(code="TIMEOUT", policy=POLICY), verdict(True, "default list")),  # a code in neither list falls through
    (dict(code="http_5xx", policy=POLICY), verdict(True, "unknown code: retryable by default")),  # lists are case-sensitive
    # layer 3: the operator's rules
    (dict(code="HTTP_5XX", rules=RULES), verdict(False, "rule #3 code HTTP_5XX")),  # exact beats wildcard at the same order, whatever the list order
    (dict(code="HTTP_429", rules=RULES), verdict(True, "rule #4 code HTTP_*")),  # the wildcard catches the rest
    (dict(code="HTTP_5XX", rules=LOW_WILDCARD), verdict(True, "rule #1 code HTTP_*")),  # a lower order wins even as a wildcard
    (dict(code="CUSTOM_SLOW_DB", rules=RULES), verdict(True, "rule #5 code CUSTOM_SLOW_*")),  # the longer wildcard wins; no id: its position
    (dict(code="CUSTOM_BAD", rules=RULES), verdict(False, "rule #4 code CUSTOM_*")),  # the shorter wildcard when the longer misses
    (dict(code="FLAKY", rules=RULES), verdict(True, "rule #8 code FLAKY")),  # a tie: the earlier rule wins
    (dict(code="CONNECTION_ERROR", exception_class="ConnectionError", rules=RULES), verdict(False, "rule #7 exception ConnectionError")),  # an exception rule beats the default list
    (dict(code="E", exception_class="requests.exceptions.ConnectionError", rules=RULES), verdict(False, "rule #7 exception ConnectionError")),  # a bare class name matches a dotted one
    (dict(code="E", exception_class="requests.exceptions.Timeout", rules=RULES), verdict(True, "rule #10 exception requests.exceptions.Timeout")),  # a dotted pattern matches the full name
    (dict(code="E", exception_class="myapp.Timeout", rules=RULES), verdict(True, "unknown code: retryable by default")),  # ...and only the full name
    (dict(code="ConnectionError", rules=RULES), verdict(True, "unknown code: retryable by default")),  # exception rules ignore the code
    (dict(code="E", exception_class="HTTP_5XX", rules=RULES), verdict(True, "unknown code: retryable by default")),  # code rules ignore the class
    (dict(code="HTTP_5XX", handler_retryable=True, rules=CATCH_ALL), verdict(False, "rule #99 code *")),  # a rule beats the handler; * matches anything
    (dict(code="", rules=CATCH_ALL), verdict(True, "unknown code: retryable by default")),  # ...but not an empty code
    (dict(code="HTTP_5XX_ERR", rules=(Rule("code", "HTTP_*_ERR", False, id=5),)), verdict(True, "unknown code: retryable by default")),  # a * inside a pattern is no wildcard
    (dict(code="HTTP_*_ERR", rules=(Rule("code", "HTTP_*_ERR", False, id=5),)), verdict(False, "rule #5 code HTTP_*_ERR")),  # ...but a literal character
    # layer 4: the handler's own flag
    (dict(code="TIMEOUT", handler_retryable=False), verdict(False, "handler")),  # the handler knows this timeout is permanent
    (dict(code="VALIDATION_ERROR", handler_retryable=True), verdict(True, "handler")),  # the handler says a validation error may clear up
    (dict(code="WHATEVER", handler_retryable=False, rules=RULES), verdict(False, "handler")),  # rules that do not match leave it to the handler
    # layer 5: the default lists
    (dict(code="TIMEOUT"), verdict(True, "default list")),  # retryable by default
    (dict(code="CONNECTION_ERROR"), verdict(True, "default list")),  # retryable by default
    (dict(code="HTTP_5XX"), verdict(True, "default list")),  # retryable by default
    (dict(code="RATE_LIMITED"), verdict(True, "default list")),  # retryable by default
    (dict(code="SERVICE_UNAVAILABLE"), verdict(True, "default list")),  # retryable by default
    (dict(code="VALIDATION_ERROR"), verdict(False, "default list")),  # never retried by default
    (dict(code="HTTP_4XX"), verdict(False, "default list")),  # never retried by default
    (dict(code="AUTH_ERROR"), verdict(False, "default list")),  # never retried by default
    (dict(code="NOT_FOUND"), verdict(False, "default list")),  # never retried by default
    (dict(code="NOT_FOUND", exception_class="TIMEOUT"), verdict(False, "default list")),  # the defaults read the code only
    # layer 6: unknown codes
    (dict(code="ZeroDivisionError", exception_class="ZeroDivisionError"), verdict(True, "unknown code: retryable by default")),  # an unexpected exception
    (dict(code="timeout"), verdict(True, "unknown code: retryable by default")),  # defaults are case-sensitive too
    (dict(code="PAYMENT_DECLINED", policy=Policy()), verdict(True, "unknown code: retryable by default")),  # an empty policy decides nothing
]
# fmt: on


@pytest.mark.parametrize(("error", "expected"), CASES)
def test_the_first_layer_with_an_answer_decides(error, expected):
    assert classify(**error) == expected


def test_the_default_lists_are_the_specs_and_nothing_more():
    assert sorted(DEFAULT_RETRYABLE) == [
        "CONNECTION_ERROR",
        "HTTP_5XX",
        "RATE_LIMITED",
        "SERVICE_UNAVAILABLE",
        "TIMEOUT",
    ]
    assert sorted(DEFAULT_NON_RETRYABLE) == [
        "AUTH_ERROR",
        "HTTP_4XX",
        "NOT_FOUND",
        "VALIDATION_ERROR",
    ]


@pytest.mark.parametrize(
    ("match", "pattern"),
    [
        ("message", "HTTP_5XX"),  # only code or exception
        ("code", ""),  # an empty pattern
    ],
)
def test_a_malformed_rule_is_refused(match, pattern):
    with pytest.raises(ValueError):
        Rule(match, pattern, True)
