"""Retry policies (pure): delays per strategy, jitter, validation, properties."""

import json
import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conductor.errors import ValidationFailed
from recovery.backoff import (
    STRATEGIES,
    Policy,
    base_delay_ms,
    delay_ms,
    merged,
)


def policy(**fields):
    """A policy with a 1 s initial delay and a 60 s cap unless told otherwise."""
    return Policy(**{"initial_delay_ms": 1000, "max_delay_ms": 60_000, **fields})


def problems(data, **options):
    with pytest.raises(ValidationFailed) as info:
        Policy.from_dict(data, **options)
    return [(e.field, e.code, e.message) for e in info.value.errors]


# --- delays before jitter: attempts 1..6 ----------------------------------------


# fmt: off
BASE_DELAYS = [
    (policy(strategy="fixed"), [1000, 1000, 1000, 1000, 1000, 1000]),  # fixed: the initial delay every time
    (policy(strategy="fixed", initial_delay_ms=60_000), [60_000] * 6),  # fixed at the cap: the cap
    (policy(strategy="linear"), [1000, 2000, 3000, 4000, 5000, 6000]),  # linear: initial·n
    (policy(strategy="linear", initial_delay_ms=25_000), [25_000, 50_000, 60_000, 60_000, 60_000, 60_000]),  # linear reaches the cap at attempt 3
    (policy(strategy="exponential"), [1000, 2000, 4000, 8000, 16_000, 32_000]),  # exponential x2: initial·2^(n-1)
    (policy(strategy="exponential", backoff_multiplier=3.0), [1000, 3000, 9000, 27_000, 60_000, 60_000]),  # x3: 81 s capped to 60 s at attempt 5
    (policy(strategy="exponential", backoff_multiplier=1.5, initial_delay_ms=100, max_delay_ms=1000), [100, 150, 225, 338, 506, 759]),  # x1.5: fractions rounded to whole ms
    (policy(strategy="exponential", backoff_multiplier=1.0), [1000] * 6),  # x1 behaves like fixed
    (policy(strategy="exponential", backoff_multiplier=10.0, initial_delay_ms=100, max_delay_ms=1000), [100, 1000, 1000, 1000, 1000, 1000]),  # x10 hits a low cap at once
    (policy(strategy="fibonacci"), [1000, 1000, 2000, 3000, 5000, 8000]),  # fibonacci: initial·F(n), F = 1, 1, 2, 3, 5, 8
    (policy(strategy="fibonacci", initial_delay_ms=10_000, max_delay_ms=40_000), [10_000, 10_000, 20_000, 30_000, 40_000, 40_000]),  # F(5)·10 s = 50 s capped to 40 s
    (policy(strategy="custom", delays_ms=(500, 5000, 30_000)), [500, 5000, 30_000, 30_000, 30_000, 30_000]),  # custom: the list, then its last entry repeats
    (policy(strategy="custom", delays_ms=(0,)), [0] * 6),  # custom zero: retry at once
    (policy(strategy="custom", delays_ms=(90_000, 1000)), [60_000, 1000, 1000, 1000, 1000, 1000]),  # custom entries are capped too (and need not grow)
    (policy(strategy="linear", delays_ms=(5,)), [1000, 2000, 3000, 4000, 5000, 6000]),  # delays_ms is ignored unless custom
    (Policy(), [1000, 2000, 4000, 8000, 16_000, 32_000]),  # the defaults: exponential from 1 s
    (Policy(initial_delay_ms=60_000), [60_000, 120_000, 240_000, 300_000, 300_000, 300_000]),  # the default cap is 5 minutes
]
# fmt: on


@pytest.mark.parametrize(("retry_policy", "expected"), BASE_DELAYS)
def test_base_delay_follows_the_strategy_formula(retry_policy, expected):
    delays = [base_delay_ms(retry_policy, attempt=n) for n in range(1, 7)]
    assert delays == expected


def test_attempt_numbers_are_one_based():
    with pytest.raises(ValueError, match="1-based"):
        base_delay_ms(Policy(), attempt=0)


def test_an_unknown_strategy_is_refused_even_without_from_dict():
    with pytest.raises(ValueError, match="strategy"):
        base_delay_ms(Policy(strategy="quadratic"), attempt=1)


# --- jitter -------------------------------------------------------------------


# fmt: off
JITTERED = [
    (policy(strategy="fixed", jitter=0.1), 0.0, 900),  # rand 0: the bottom of the band, -10 %
    (policy(strategy="fixed", jitter=0.1), 0.5, 1000),  # rand 0.5: no change
    (policy(strategy="fixed", jitter=0.1), 0.999, 1100),  # rand 0.999: 1099.8 rounds to the top, +10 %
    (policy(strategy="fixed", jitter=0.25), 0.0, 750),  # ±25 %
    (policy(strategy="fixed", jitter=0.25), 0.999, 1250),  # 1249.5 rounds up to the band's top
    (policy(strategy="fixed", jitter=0.0), 0.0, 1000),  # no jitter: the base delay
    (policy(strategy="fixed", jitter=0.0), 0.999, 1000),  # ...whatever rand says
    (policy(strategy="fixed", jitter=1.0), 0.0, 0),  # full jitter can reach zero, never below
    (policy(strategy="fixed", jitter=1.0), 0.999, 1998),  # ...and almost double
    (policy(strategy="exponential", jitter=0.1), 0.0, 60_000 * 9 // 10),  # attempt 10 is at the cap, jittered down
    (policy(strategy="exponential", jitter=0.1), 0.999, 65_988),  # jitter applies after the cap: up to +10 % over it
    (policy(strategy="custom", delays_ms=(0,), jitter=0.5), 0.999, 0),  # zero stays zero
    (policy(strategy="custom", delays_ms=(1,), jitter=0.4), 0.999, 1),  # 1.3992 ms: rounded inside the band [0.6, 1.4]
]
# fmt: on


@pytest.mark.parametrize(("retry_policy", "rand", "expected"), JITTERED)
def test_jitter_spreads_the_delay_within_its_band(retry_policy, rand, expected):
    attempt = 10 if retry_policy.strategy == "exponential" else 1
    assert delay_ms(retry_policy, attempt=attempt, rand=rand) == expected


@pytest.mark.parametrize("rand", [-0.1, 1.0, 1.5, math.nan])
def test_rand_must_be_in_the_unit_interval(rand):
    with pytest.raises(ValueError, match="rand"):
        delay_ms(Policy(), attempt=1, rand=rand)


# --- validation ------------------------------------------------------------------


P = "retry_policy."
# fmt: off
INVALID = [
    ({"max_retries": 11}, [(P + "max_retries", "out_of_range", "must be between 0 and 10")]),  # over the default cap
    ({"max_retries": -1}, [(P + "max_retries", "out_of_range", "must be between 0 and 10")]),  # negative
    ({"max_retries": "3"}, [(P + "max_retries", "type", "must be an integer")]),  # a string is not an integer
    ({"max_retries": True}, [(P + "max_retries", "type", "must be an integer")]),  # nor is a boolean
    ({"max_retries": 3.0}, [(P + "max_retries", "type", "must be an integer")]),  # nor a float, even integral
    ({"max_retries": None}, [(P + "max_retries", "type", "must be an integer")]),  # null is not "use the default"
    ({"initial_delay_ms": 99}, [(P + "initial_delay_ms", "out_of_range", "must be between 100 and 60000")]),  # under 100 ms
    ({"initial_delay_ms": 60_001}, [(P + "initial_delay_ms", "out_of_range", "must be between 100 and 60000")]),  # over a minute
    ({"max_delay_ms": 999}, [(P + "max_delay_ms", "out_of_range", "must be between 1000 and 300000")]),  # under a second
    ({"max_delay_ms": 300_001}, [(P + "max_delay_ms", "out_of_range", "must be between 1000 and 300000")]),  # over five minutes
    ({"initial_delay_ms": 5000, "max_delay_ms": 2000}, [(P + "max_delay_ms", "out_of_range", "must be ≥ initial_delay_ms (5000)")]),  # cap under the initial delay
    ({"strategy": "quadratic"}, [(P + "strategy", "invalid_choice", "must be one of exponential, linear, fixed, fibonacci, custom")]),  # unknown strategy
    ({"strategy": "Exponential"}, [(P + "strategy", "invalid_choice", "must be one of exponential, linear, fixed, fibonacci, custom")]),  # case matters
    ({"strategy": ["fixed"]}, [(P + "strategy", "invalid_choice", "must be one of exponential, linear, fixed, fibonacci, custom")]),  # not a string
    ({"backoff_multiplier": 0.5}, [(P + "backoff_multiplier", "out_of_range", "must be between 1 and 10")]),  # a shrinking delay
    ({"backoff_multiplier": 10.5}, [(P + "backoff_multiplier", "out_of_range", "must be between 1 and 10")]),  # over x10
    ({"backoff_multiplier": "2"}, [(P + "backoff_multiplier", "type", "must be a number")]),  # a string is not a number
    ({"backoff_multiplier": float("inf")}, [(P + "backoff_multiplier", "type", "must be a finite number")]),  # infinity
    ({"jitter": 1.5}, [(P + "jitter", "out_of_range", "must be between 0 and 1")]),  # more than ±100 %
    ({"jitter": -0.1}, [(P + "jitter", "out_of_range", "must be between 0 and 1")]),  # negative jitter
    ({"jitter": False}, [(P + "jitter", "type", "must be a number")]),  # a boolean is not a number
    ({"strategy": "custom"}, [(P + "delays_ms", "required", "required (a non-empty list) when strategy is custom")]),  # custom without delays
    ({"strategy": "custom", "delays_ms": []}, [(P + "delays_ms", "required", "required (a non-empty list) when strategy is custom")]),  # ...or with an empty list
    ({"strategy": "custom", "delays_ms": 1000}, [(P + "delays_ms", "type", "must be a list")]),  # a number, not a list
    ({"strategy": "custom", "delays_ms": [1000] * 101}, [(P + "delays_ms", "too_many", "at most 100 entries")]),  # too long a list
    ({"strategy": "custom", "delays_ms": [1000, -1]}, [(P + "delays_ms[1]", "out_of_range", "must be between 0 and 300000 (max_delay_ms)")]),  # a negative delay, named by index
    ({"strategy": "custom", "max_delay_ms": 10_000, "delays_ms": [20_000]}, [(P + "delays_ms[0]", "out_of_range", "must be between 0 and 10000 (max_delay_ms)")]),  # a delay over this policy's cap
    ({"strategy": "custom", "max_delay_ms": 1, "delays_ms": [400_000]}, [(P + "max_delay_ms", "out_of_range", "must be between 1000 and 300000"), (P + "delays_ms[0]", "out_of_range", "must be between 0 and 300000")]),  # a bad cap: checked against the largest allowed
    ({"strategy": "custom", "delays_ms": [1000, "2s"]}, [(P + "delays_ms[1]", "type", "must be an integer")]),  # a string among the delays
    ({"strategy": "fixed", "delays_ms": [1.5]}, [(P + "delays_ms[0]", "type", "must be an integer")]),  # types are checked even when unused
    ({"retryable_errors": "TIMEOUT"}, [(P + "retryable_errors", "type", "must be a list")]),  # a string, not a list
    ({"retryable_errors": ["TIMEOUT", 5]}, [(P + "retryable_errors[1]", "type", "must be a string")]),  # a number among the codes
    ({"non_retryable_errors": [" "]}, [(P + "non_retryable_errors[0]", "blank", "must not be blank")]),  # a blank code
    ({"non_retryable_errors": ["X" * 101]}, [(P + "non_retryable_errors[0]", "too_long", "at most 100 characters")]),  # a code too long to store
    ({"non_retryable_errors": ["X"] * 101}, [(P + "non_retryable_errors", "too_many", "at most 100 entries")]),  # too many codes
    ({"maxRetries": 3}, [(P + "maxRetries", "unknown_field", "unknown field; expected one of backoff_multiplier, delays_ms, initial_delay_ms, jitter, max_delay_ms, max_retries, non_retryable_errors, retryable_errors, strategy")]),  # the seed's camelCase is refused
    ([], [("retry_policy", "type", "must be an object")]),  # not an object at all
]
# fmt: on


@pytest.mark.parametrize(("data", "expected"), INVALID)
def test_each_invalid_field_is_named_with_its_bound(data, expected):
    assert problems(data) == expected


def test_every_problem_is_reported_at_once():
    data = {"max_retries": 99, "jitter": 2, "strategy": "custom", "colour": "red"}
    assert [field for field, _, _ in problems(data)] == [
        "retry_policy.colour",
        "retry_policy.max_retries",
        "retry_policy.jitter",
        "retry_policy.delays_ms",
    ]


@pytest.mark.parametrize(
    ("prefix", "field"),
    [
        ("", "max_delay_ms"),  # no prefix: bare names
        ("job_type.retry_policy", "job_type.retry_policy.max_delay_ms"),  # nested
    ],
)
def test_the_prefix_is_put_before_each_field(prefix, field):
    assert problems({"max_delay_ms": 1}, prefix=prefix)[0][0] == field


def test_an_operator_may_allow_more_retries_up_to_100():
    assert Policy.from_dict({"max_retries": 50}, max_retries_cap=50).max_retries == 50
    assert problems({"max_retries": 51}, max_retries_cap=50) == [
        ("retry_policy.max_retries", "out_of_range", "must be between 0 and 50")
    ]
    with pytest.raises(ValueError, match="max_retries_cap"):
        Policy.from_dict({}, max_retries_cap=101)


def test_absent_fields_take_the_defaults():
    assert Policy.from_dict({}) == Policy()


def test_a_full_policy_is_read_into_tuples_and_floats():
    data = {
        "max_retries": 0,
        "initial_delay_ms": 100,
        "max_delay_ms": 1000,
        "strategy": "custom",
        "backoff_multiplier": 3,
        "jitter": 0,
        "delays_ms": [100, 0, 1000],
        "retryable_errors": ["HTTP_5XX"],
        "non_retryable_errors": ["AUTH_ERROR", "HTTP_4XX"],
    }
    assert Policy.from_dict(data) == Policy(
        max_retries=0,
        initial_delay_ms=100,
        max_delay_ms=1000,
        strategy="custom",
        backoff_multiplier=3.0,
        jitter=0.0,
        delays_ms=(100, 0, 1000),
        retryable_errors=("HTTP_5XX",),
        non_retryable_errors=("AUTH_ERROR", "HTTP_4XX"),
    )


def test_as_dict_is_json_and_reads_back():
    retry_policy = policy(strategy="custom", delays_ms=(1, 2), retryable_errors=("X",))
    stored = json.loads(json.dumps(retry_policy.as_dict()))
    assert stored["delays_ms"] == [1, 2]
    assert Policy.from_dict(stored) == retry_policy


# --- merged: type policy, then job override ------------------------------------


TYPE_POLICY = Policy(strategy="custom", delays_ms=(1000, 5000), max_retries=5)


def test_an_override_replaces_only_its_fields():
    job_policy = merged(TYPE_POLICY, {"max_retries": 2, "jitter": 0})
    assert job_policy == Policy(
        strategy="custom", delays_ms=(1000, 5000), max_retries=2, jitter=0.0
    )


def test_an_override_may_switch_away_from_custom_keeping_the_list():
    job_policy = merged(TYPE_POLICY, {"strategy": "fixed", "max_delay_ms": 1000})
    assert base_delay_ms(job_policy, attempt=2) == 1000
    assert job_policy.delays_ms == (1000, 5000)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            {"max_retries": 11},
            ("retry_policy.max_retries", "out_of_range"),
        ),  # over the cap
        ({"strategy": "exp"}, ("retry_policy.strategy", "invalid_choice")),  # a typo
        ({"tries": 1}, ("retry_policy.tries", "unknown_field")),  # an unknown field
        (
            {"initial_delay_ms": 50_000, "max_delay_ms": 20_000},
            ("retry_policy.max_delay_ms", "out_of_range"),
        ),  # cap under the initial delay
        (
            {"delays_ms": []},
            ("retry_policy.delays_ms", "required"),
        ),  # emptying the custom list
    ],
)
def test_an_override_is_validated_with_its_base(override, expected):
    with pytest.raises(ValidationFailed) as info:
        merged(TYPE_POLICY, override)
    assert [(e.field, e.code) for e in info.value.errors] == [expected]


def test_an_override_must_be_an_object():
    with pytest.raises(ValidationFailed) as info:
        merged(Policy(), ["max_retries", 1])
    assert info.value.errors[0].field == "retry_policy"


def test_a_type_allowed_more_retries_keeps_them_but_a_job_cannot_raise_them():
    base = Policy.from_dict({"max_retries": 40}, max_retries_cap=100)
    assert merged(base, {"jitter": 0.2}).max_retries == 40
    assert merged(base, {"max_retries": 30}).max_retries == 30
    with pytest.raises(ValidationFailed):
        merged(base, {"max_retries": 41})
    assert merged(base, {"max_retries": 41}, max_retries_cap=100).max_retries == 41


# --- properties ----------------------------------------------------------------


@st.composite
def policies(draw, strategies=STRATEGIES):
    initial = draw(st.integers(100, 60_000))
    cap = draw(st.integers(max(1000, initial), 300_000))
    strategy = draw(st.sampled_from(strategies))
    delays = draw(st.lists(st.integers(0, cap), min_size=1, max_size=8))
    data = {
        "initial_delay_ms": initial,
        "max_delay_ms": cap,
        "strategy": strategy,
        "backoff_multiplier": draw(st.floats(1, 10)),
        "jitter": draw(st.floats(0, 1)),
        "delays_ms": delays if strategy == "custom" else [],
    }
    return Policy.from_dict(data)


GROWING = ("exponential", "linear", "fibonacci", "fixed")
attempts = st.integers(1, 10**9)
rands = st.floats(0, 1, exclude_max=True)


@given(policies(), attempts, rands)
def test_jittered_delay_stays_within_zero_and_the_jittered_cap(retry_policy, n, rand):
    delay = delay_ms(retry_policy, attempt=n, rand=rand)
    ceiling = retry_policy.max_delay_ms * (1 + retry_policy.jitter)
    assert 0 <= delay <= ceiling + 1e-6


@given(policies(), attempts, rands)
def test_jitter_stays_within_its_band_around_the_base(retry_policy, n, rand):
    base = base_delay_ms(retry_policy, attempt=n)
    spread = base * retry_policy.jitter
    delay = delay_ms(retry_policy, attempt=n, rand=rand)
    assert base - spread - 1e-6 <= delay <= base + spread + 1e-6


@given(policies(GROWING), st.integers(1, 200))
def test_base_delays_never_shrink_and_never_pass_the_cap(retry_policy, n):
    delays = [base_delay_ms(retry_policy, attempt=k) for k in range(n, n + 40)]
    assert delays == sorted(delays)
    assert all(0 < d <= retry_policy.max_delay_ms for d in delays)


@given(policies(GROWING), st.sampled_from([10**6, 10**18, 10**100]))
def test_a_huge_attempt_is_capped_without_overflow(retry_policy, n):
    delay = base_delay_ms(retry_policy, attempt=n)
    assert delay <= retry_policy.max_delay_ms
    if retry_policy.strategy in ("linear", "fibonacci") or (
        retry_policy.strategy == "exponential"
        and retry_policy.backoff_multiplier >= 1.01
    ):
        assert delay == retry_policy.max_delay_ms


@pytest.mark.parametrize("strategy", GROWING)
def test_a_huge_attempt_returns_quickly(strategy):
    slow = Policy(strategy=strategy, backoff_multiplier=1.0001)
    started = time.perf_counter()
    for _ in range(100):
        base_delay_ms(slow, attempt=10**6)
    # A loop over the attempts would take seconds; the formulas stop at the cap.
    assert time.perf_counter() - started < 0.5


@settings(max_examples=50)
@given(policies())
def test_a_policy_survives_storage(retry_policy):
    stored = json.loads(json.dumps(retry_policy.as_dict()))
    assert Policy.from_dict(stored) == retry_policy
