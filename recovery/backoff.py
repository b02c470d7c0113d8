"""Retry policies: which settings are valid, and how long to wait before a retry.

Pure: no database, clock, random source or settings. ``rand`` (a float in
``[0, 1)``) is an argument, so every delay is reproducible in a test.

Fields and bounds (SPEC §3; the seed's names)
---------------------------------------------
=====================  ===============  ==============================================
field                  default          valid values
=====================  ===============  ==============================================
max_retries            3                0-10 (an operator may raise the cap to 100)
initial_delay_ms       1000             100-60,000
max_delay_ms           300,000          1,000-300,000 and >= initial_delay_ms
strategy               exponential      exponential | linear | fixed | fibonacci |
                                        custom
backoff_multiplier     2.0              1-10 (exponential only)
jitter                 0.1              0-1, a fraction: 0.1 is +/-10 %
delays_ms              ()               custom only, and required there: 1-100
                                        delays, each 0-max_delay_ms (integers)
retryable_errors       ()               error codes always retried (see classify)
non_retryable_errors   ()               error codes never retried (see classify)
=====================  ===============  ==============================================

``from_dict`` is the gate: it refuses unknown keys, wrong JSON types (a boolean is
not a number) and out-of-range values, collecting every problem into one
``ValidationFailed`` whose ``FieldError`` paths carry a prefix
(``retry_policy.max_delay_ms``, ``retry_policy.delays_ms[2]``) and whose messages
name the bound. ``delays_ms`` is kept but ignored (only its types checked) unless the
strategy is ``custom``, so a job may switch its type's custom policy to
``exponential`` without erasing the list. Error-code lists hold at most 100
non-blank codes of at most 100 characters (patterns: see ``recovery.classify``).

Delay after failed attempt n (1-based)
--------------------------------------
::

    fixed        d = initial
    linear       d = initial * n
    exponential  d = initial * multiplier ** (n - 1)
    fibonacci    d = initial * F(n)       F(1) = 1, F(2) = 1, F(3) = 2, F(4) = 3 ...
    custom       d = delays_ms[min(n, len(delays_ms)) - 1]   (the last one repeats)

    base  = min(d, max_delay_ms)                    -> base_delay_ms()
    delay = base * (1 + jitter * (2 * rand - 1))    -> delay_ms()

``delay`` is rounded to a whole millisecond and kept inside the jitter band
``[ceil(base * (1 - jitter)), floor(base * (1 + jitter))]``, so it is never negative
and never more than ``max_delay_ms * (1 + jitter)``: jitter applies after the cap
(as in the seed), so the cap may be overshot by at most the jitter fraction. That
spread is the point: retries of many jobs that failed together do not arrive
together.

Huge attempt numbers cost nothing: each formula stops growing once it reaches the
cap (exponential compares logarithms, fibonacci stops iterating, linear clamps n),
so ``attempt=10**6`` neither overflows nor loops a million times.
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from conductor.errors import FieldError, ValidationFailed

STRATEGIES = ("exponential", "linear", "fixed", "fibonacci", "custom")
MAX_RETRIES_DEFAULT_CAP = 10
MAX_RETRIES_HARD_CAP = 100
# (low, high) of each numeric field: serializers and the OpenAPI document use these.
INITIAL_DELAY_MS = (100, 60_000)
MAX_DELAY_MS = (1_000, 300_000)
MULTIPLIER = (1, 10)
JITTER = (0, 1)
MAX_DELAYS = 100
MAX_CODES = 100
MAX_CODE_LENGTH = 100


@dataclass(frozen=True)
class Policy:
    max_retries: int = 3
    initial_delay_ms: int = 1000
    max_delay_ms: int = 300_000
    strategy: str = "exponential"
    backoff_multiplier: float = 2.0
    jitter: float = 0.1
    delays_ms: tuple[int, ...] = ()
    retryable_errors: tuple[str, ...] = ()
    non_retryable_errors: tuple[str, ...] = ()

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        prefix: str = "retry_policy",
        max_retries_cap: int = MAX_RETRIES_DEFAULT_CAP,
    ) -> "Policy":
        """A valid policy from JSON-like ``data`` (absent keys take the defaults)."""
        if not 0 <= max_retries_cap <= MAX_RETRIES_HARD_CAP:
            raise ValueError(f"max_retries_cap must be 0-{MAX_RETRIES_HARD_CAP}")
        reader = SettingsReader(data, prefix=prefix, known=_FIELD_NAMES)
        values = _read_policy(reader, max_retries_cap)
        reader.check()
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly; ``from_dict(policy.as_dict())`` gives the policy back."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in fields(self)
        }


#: The policy's fields, in declaration order.
FIELDS = tuple(f.name for f in fields(Policy))
_FIELD_NAMES = frozenset(FIELDS)
_DEFAULT = Policy()


def merged(
    base: Policy,
    override: Mapping[str, Any],
    *,
    prefix: str = "retry_policy",
    max_retries_cap: int | None = None,
) -> Policy:
    """``base`` with the fields in ``override`` replaced (type policy -> job policy).

    The result is validated as a whole. ``max_retries_cap`` defaults to the larger
    of 10 and ``base.max_retries``: a limit an operator already allowed on the type
    stays valid, but a job cannot raise it further on its own.
    """
    if not isinstance(override, Mapping):
        raise ValidationFailed(
            [FieldError(prefix or "body", "must be an object", "type")]
        )
    cap = max(MAX_RETRIES_DEFAULT_CAP, base.max_retries)
    return Policy.from_dict(
        {**base.as_dict(), **override},
        prefix=prefix,
        max_retries_cap=cap if max_retries_cap is None else max_retries_cap,
    )


# --- delays -------------------------------------------------------------------


def delay_ms(policy: Policy, *, attempt: int, rand: float) -> int:
    """Milliseconds to wait after failed attempt ``attempt`` (1-based), jittered."""
    if not 0.0 <= rand < 1.0:
        raise ValueError(f"rand must be in [0, 1), got {rand!r}")
    base = base_delay_ms(policy, attempt=attempt)
    spread = base * policy.jitter
    jittered = round(base + spread * (2 * rand - 1))
    low, high = math.ceil(base - spread), math.floor(base + spread)
    return max(0, low, min(jittered, high))


def base_delay_ms(policy: Policy, *, attempt: int) -> int:
    """The delay after failed attempt ``attempt`` (1-based), capped, before jitter."""
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    formula = _FORMULAS.get(policy.strategy)
    if formula is None:
        raise ValueError(f"unknown strategy {policy.strategy!r}")
    return max(0, round(min(formula(policy, attempt), policy.max_delay_ms)))


def _fixed(policy: Policy, n: int) -> float:
    return policy.initial_delay_ms


def _linear(policy: Policy, n: int) -> float:
    # Past n = max_delay_ms the product is over the cap anyway (initial >= 1).
    return policy.initial_delay_ms * min(n, policy.max_delay_ms)


def _exponential(policy: Policy, n: int) -> float:
    initial, m, steps = policy.initial_delay_ms, policy.backoff_multiplier, n - 1
    if initial > 0 and m > 1:
        # m ** (n - 1) overflows for large n: one step past the cap is enough.
        ratio = max(policy.max_delay_ms, initial) / initial
        steps = min(steps, math.ceil(math.log(ratio, m)) + 1)
    return initial * m**steps


def _fibonacci(policy: Policy, n: int) -> float:
    current, following = 1, 1  # F(1), F(2)
    for _ in range(min(n - 1, 200)):  # F(200) ~ 3e41: past any cap
        if policy.initial_delay_ms * current >= policy.max_delay_ms:
            break
        current, following = following, current + following
    return policy.initial_delay_ms * current


def _custom(policy: Policy, n: int) -> float:
    if not policy.delays_ms:
        raise ValueError("the custom strategy needs delays_ms")
    return policy.delays_ms[min(n, len(policy.delays_ms)) - 1]


_FORMULAS: dict[str, Callable[[Policy, int], float]] = {
    "fixed": _fixed,
    "linear": _linear,
    "exponential": _exponential,
    "fibonacci": _fibonacci,
    "custom": _custom,
}


# --- validation -----------------------------------------------------------------


class SettingsReader:
    """Reads a JSON-like settings mapping field by field, collecting FieldErrors.

    Shared by ``Policy.from_dict`` and ``breaker.BreakerPolicy.from_dict``.
    A field that fails is remembered in ``failed`` so cross-field checks skip it.
    """

    def __init__(self, data: Any, *, prefix: str, known: frozenset[str]):
        self.prefix = prefix
        self.errors: list[FieldError] = []
        self.failed: set[str] = set()
        if not isinstance(data, Mapping):
            self.errors.append(
                FieldError(prefix or "body", "must be an object", "type")
            )
            data = {}
        self.data = data
        for key in sorted(set(map(str, data)) - known):
            expected = ", ".join(sorted(known))
            self.fail(
                key, f"unknown field; expected one of {expected}", "unknown_field"
            )

    def path(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, message: str, code: str) -> None:
        self.errors.append(FieldError(self.path(name), message, code))
        self.failed.add(name.partition("[")[0])

    def check(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.data.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(name, "must be an integer", "type")
            return default
        return value if self._within(name, value, low, high) else default

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self.data.get(name, default)
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.fail(name, "must be a number", "type")
            return default
        if not math.isfinite(value):
            self.fail(name, "must be a finite number", "type")
            return default
        return float(value) if self._within(name, value, low, high) else default

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.data.get(name, default)
        if value not in choices or not isinstance(value, str):
            self.fail(name, f"must be one of {', '.join(choices)}", "invalid_choice")
            return default
        return value

    def items(self, name: str, limit: int) -> list[Any]:
        """The raw list under ``name`` (a JSON array), or [] after an error."""
        value = self.data.get(name, [])
        if not isinstance(value, list | tuple):
            self.fail(name, "must be a list", "type")
            return []
        if len(value) > limit:
            self.fail(name, f"at most {limit} entries", "too_many")
            return []
        return list(value)

    def _within(self, name: str, value: float, low: float, high: float) -> bool:
        if low <= value <= high:
            return True
        self.fail(name, f"must be between {low} and {high}", "out_of_range")
        return False


def _read_policy(reader: SettingsReader, max_retries_cap: int) -> dict[str, Any]:
    """Every field, in declaration order (so errors come out in that order)."""
    values: dict[str, Any] = {
        "max_retries": reader.integer(
            "max_retries", _DEFAULT.max_retries, 0, max_retries_cap
        ),
        "initial_delay_ms": reader.integer(
            "initial_delay_ms", _DEFAULT.initial_delay_ms, *INITIAL_DELAY_MS
        ),
    }
    values["max_delay_ms"] = _read_max_delay(reader, values["initial_delay_ms"])
    values |= {
        "strategy": reader.choice("strategy", _DEFAULT.strategy, STRATEGIES),
        "backoff_multiplier": reader.number(
            "backoff_multiplier", _DEFAULT.backoff_multiplier, *MULTIPLIER
        ),
        "jitter": reader.number("jitter", _DEFAULT.jitter, *JITTER),
    }
    values["delays_ms"] = _read_delays(reader, values)
    for name in ("retryable_errors", "non_retryable_errors"):
        values[name] = _read_codes(reader, name)
    return values


def _read_max_delay(reader: SettingsReader, initial: int) -> int:
    cap = reader.integer("max_delay_ms", _DEFAULT.max_delay_ms, *MAX_DELAY_MS)
    if "max_delay_ms" in reader.failed or "initial_delay_ms" in reader.failed:
        return cap
    if cap < initial:
        reader.fail(
            "max_delay_ms", f"must be ≥ initial_delay_ms ({initial})", "out_of_range"
        )
    return cap


def _read_delays(reader: SettingsReader, values: dict[str, Any]) -> tuple[int, ...]:
    delays = reader.items("delays_ms", MAX_DELAYS)
    custom = values["strategy"] == "custom"
    if custom and not delays and "delays_ms" not in reader.failed:
        message = "required (a non-empty list) when strategy is custom"
        reader.fail("delays_ms", message, "required")
    for index, delay in enumerate(delays):
        if not isinstance(delay, int) or isinstance(delay, bool):
            reader.fail(f"delays_ms[{index}]", "must be an integer", "type")
        elif custom and not 0 <= delay <= values["max_delay_ms"]:
            _delay_out_of_range(reader, index, values["max_delay_ms"])
    return tuple(delays)


def _delay_out_of_range(reader: SettingsReader, index: int, cap: int) -> None:
    # After a bad max_delay_ms, cap is its default: the largest allowed anyway.
    bound = f"{cap}" if "max_delay_ms" in reader.failed else f"{cap} (max_delay_ms)"
    reader.fail(f"delays_ms[{index}]", f"must be between 0 and {bound}", "out_of_range")


def _read_codes(reader: SettingsReader, name: str) -> tuple[str, ...]:
    codes = reader.items(name, MAX_CODES)
    for index, code in enumerate(codes):
        if not isinstance(code, str):
            reader.fail(f"{name}[{index}]", "must be a string", "type")
        elif not code.strip():
            reader.fail(f"{name}[{index}]", "must not be blank", "blank")
        elif len(code) > MAX_CODE_LENGTH:
            reader.fail(
                f"{name}[{index}]", f"at most {MAX_CODE_LENGTH} characters", "too_long"
            )
    return tuple(codes)
