"""Cron expressions: which are valid, when they fire, and how to say it in English.

Pure: no database, clock or settings. ``now`` is always an argument (``after``).

Syntax (SPEC §4)
----------------
Exactly five fields, ``minute hour day-of-month month day-of-week``, or an alias
(``ALIASES``). A field is a comma list of items; an item is ``*``, a value, a range
``a-b`` (``a <= b``), ``*/n`` or ``a-b/n`` (``n`` from 1 to the field's maximum).
Months may be named ``jan``-``dec`` and days ``sun``-``sat`` (any case); day-of-week
runs 0-7, 7 being Sunday again. croniter's extensions (a seconds or year field,
``L``, ``W``, ``#``, ``?``, ``H``, ``@reboot``) and ``5/15`` (a step without a range)
are refused with a message naming the sub-field, so an expression means the same
here as in any crontab.

Days: a day field that allows every value (``*``, ``1-31``, ``*/1``, ``0-6``) is
unrestricted. When both day-of-month and day-of-week are restricted a day matches if
EITHER matches (``0 9 1 * 1``: the 1st of each month and every Monday), as in Vixie
cron and croniter; otherwise both must match. Because this depends only on the values
a field allows, we hand croniter explicit value lists (``_Fields.plan``) rather than
the text: croniter decides "restricted" partly by spelling (``*/1`` vs ``1-31``).

An expression whose day-of-month never falls in one of its months (``0 0 30 2 *``)
never fires and is invalid. ``0 0 29 2 *`` is valid; each fire time is searched for
at most ``SEARCH_YEARS`` after the previous one (so it ends early around 2100).

DST: fire times are wall-clock times in the schedule's zone
-----------------------------------------------------------
1. A wall time that does not exist (inside a spring-forward gap) fires once, at the
   first instant after the gap: ``30 2 * * *`` in America/New_York on 2026-03-08
   fires at 03:00 EDT (07:00Z). Several gap wall times collapse into that instant.
2. A wall time that occurs twice (inside a fall-back overlap) fires once, at its
   first occurrence (``fold=0``): ``0 * * * *`` in New York on 2026-11-01 fires
   00:00 EDT, 01:00 EDT, then 02:00 EST, never 01:00 EST.
3. Fire times strictly increase and never repeat.

croniter walks naive wall times (it knows nothing of zones here); ``_instant`` maps
each to an instant by rules 1-2, and instants are compared in UTC only: Python
compares two datetimes sharing a tzinfo by wall time, ignoring ``fold``.
"""

import functools
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice, takewhile

from cron_descriptor import ExpressionDescriptor, Options
from croniter import CroniterBadDateError, croniter

from conductor.errors import FieldError, ValidationFailed

ALIASES: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MAX_COUNT = 100  # most fire times one call returns
SEARCH_YEARS = 5  # longest wait for the next fire time (years of 366 days)
MAX_LENGTH = 200  # longest expression (Schedule.cron; every minute listed is 169)

# 29 February skips 2100: the longest real wait between fire times, for croniter.
_LONGEST_WAIT_YEARS = 8
_SEARCH_SPAN = timedelta(days=366 * SEARCH_YEARS)
_FIELD_NAMES = "minute hour day-of-month month day-of-week"
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_NOT_ZONES = frozenset({"localtime", "posixrules"})  # files, not IANA names
_NUMBER = re.compile(r"[0-9]+")  # str.isdigit() also passes "²", which int() refuses

# What croniter accepts and we refuse, recognised so the message can name it.
_EXTENSIONS = (
    (re.compile(r"\?"), "? (any value; use *)"),
    (re.compile(r"#"), "# (the nth weekday of the month)"),
    (re.compile(r"^(\d*L|L-\d+|LW)$"), "L (the last day)"),
    (re.compile(r"^\d+W$"), "W (the nearest weekday)"),
    (re.compile(r"^H(\(.*\))?(/\d+)?$"), "H (a hashed value)"),
)


@dataclass(frozen=True)
class _Spec:
    """One of the five fields: its name, bounds and value names."""

    name: str
    low: int
    high: int
    names: str = ""  # space-separated; the i-th stands for low + i
    kind: str = ""  # "month" / "day": how a bad name is reported

    def value(self, token: str) -> int:
        if (lowered := token.lower()) in (names := self.names.split()):
            return self.low + names.index(lowered)
        if not _NUMBER.fullmatch(token):
            what = f"a {self.kind} name" if self.kind and token.isalpha() else None
            raise _Bad(f"{token!r} is not {what or 'a number'}")
        number = int(token)
        if not self.low <= number <= self.high:
            bounds = f"{self.low}-{self.high}"
            raise _Bad(f"{number} is out of range {bounds}", "out_of_range")
        return number


_SPECS = (
    _Spec("minute", 0, 59),
    _Spec("hour", 0, 23),
    _Spec("day-of-month", 1, 31),
    _Spec("month", 1, 12, "jan feb mar apr may jun jul aug sep oct nov dec", "month"),
    _Spec("day-of-week", 0, 7, "sun mon tue wed thu fri sat", "day"),
)
_DOM, _MONTH, _DOW = 2, 3, 4  # indexes of the day and month fields


class _Bad(Exception):
    """One problem in one field item (caught and turned into a FieldError)."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.message, self.code = message, code


@dataclass(frozen=True)
class _Fields:
    """A valid expression: its five field texts and the values each allows."""

    texts: tuple[str, ...]
    values: tuple[frozenset[int], ...]

    @property
    def days_either(self) -> bool:
        """Both day fields restricted: a day matches if either matches."""
        return all(self.values[i] != _EVERY[i] for i in (_DOM, _DOW))

    @property
    def plan(self) -> str:
        """The expression for croniter: ``*`` or an explicit list per field."""
        return " ".join(
            "*" if values == every else ",".join(map(str, sorted(values)))
            for values, every in zip(self.values, _EVERY, strict=True)
        )


@dataclass(frozen=True)
class Cron:
    """A valid cron expression in a time zone (build it with ``parse``)."""

    expression: str  # normalized: single spaces; an alias lower-case
    timezone: str  # an IANA name
    _fields: _Fields = field(init=False, repr=False, compare=False)
    _zone: zoneinfo.ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fields_, problems = _read(self.expression)
        if problems or _zone(self.timezone) is None:
            raise ValueError(f"invalid: {self.expression!r} in {self.timezone!r}")
        object.__setattr__(self, "expression", _normalized(self.expression))
        object.__setattr__(self, "_fields", fields_)
        object.__setattr__(self, "_zone", _zone(self.timezone))

    def after(self, moment: datetime) -> datetime | None:
        """The first fire time strictly after ``moment``, in the schedule's zone;
        None if there is none within ``SEARCH_YEARS``."""
        return next(self._fire_times(moment), None)

    def times(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` (1..MAX_COUNT) fire times strictly after ``after``."""
        _check_count("count", count)
        return list(islice(self._fire_times(after), count))

    def between(self, after: datetime, until: datetime, limit: int) -> list[datetime]:
        """The earliest ``limit`` (1..MAX_COUNT) fire times in ``(after, until]``."""
        _check_count("limit", limit)
        end = _utc(until, "until")
        due = takewhile(lambda moment: moment <= end, self._fire_times(after))
        return list(islice(due, limit))

    @property
    def description(self) -> str:
        """English, e.g. "At 09:00 AM, on day 1 of the month, and on Monday"."""
        return _describe(self._fields)

    def _fire_times(self, after: datetime) -> Iterator[datetime]:
        """Fire times after ``after``, ascending and distinct (the DST rules).

        Bounded: the wall time croniter yields grows by at least a minute a step,
        and the walk stops once it is ``SEARCH_YEARS`` past the last fire time.
        """
        last = _utc(after, "after")
        try:
            yield from self._walk(last)
        except (CroniterBadDateError, OverflowError):  # near year 1 or 9999
            return

    def _walk(self, last: datetime) -> Iterator[datetime]:
        local = last.astimezone(self._zone)
        start = local.replace(tzinfo=None, second=0, microsecond=0)
        # No wall time before `after`'s own can fire after it (only gap walls
        # move, and only forward to the gap's end), but starting a minute early
        # costs one step and the `> last` test drops anything already past.
        walls = croniter(
            self._fields.plan,
            start - timedelta(minutes=1),
            max_years_between_matches=_LONGEST_WAIT_YEARS,
        )
        horizon = start + _SEARCH_SPAN
        while (wall := walls.get_next(datetime)) <= horizon:
            instant = _instant(wall, self._zone)
            if instant > last:
                last = instant
                horizon = wall + _SEARCH_SPAN
                yield instant.astimezone(self._zone)


def parse(
    expression: str,
    timezone: str,
    *,
    field: str = "cron",
    timezone_field: str = "timezone",
) -> Cron:
    """A valid ``Cron``, or ``ValidationFailed`` listing every problem: each a
    ``FieldError`` on ``field`` (its message naming the cron sub-field) or on
    ``timezone_field``."""
    errors = []
    if not isinstance(expression, str):
        errors.append(FieldError(field, "must be a string", "type"))
    else:
        _, problems = _read(expression)
        errors += [FieldError(field, bad.message, bad.code) for bad in problems]
    if not isinstance(timezone, str) or _zone(timezone) is None:
        message = f"{timezone!r} is not an IANA time zone"
        errors.append(FieldError(timezone_field, message, "invalid"))
    if errors:
        raise ValidationFailed(errors)
    return Cron(_normalized(expression), timezone)


def describe(expression: str) -> str:
    """The English description of a valid expression (``ValidationFailed`` if not)."""
    return parse(expression, "UTC").description


# --- reading an expression -----------------------------------------------------


def _normalized(expression: str) -> str:
    text = " ".join(expression.split())
    return text.lower() if text.startswith("@") else text


def _read(expression: str) -> tuple[_Fields | None, list[_Bad]]:
    """The fields of ``expression``, or None and every problem found."""
    text = _normalized(expression)
    if len(text) > MAX_LENGTH:
        return None, [_Bad(f"longer than {MAX_LENGTH} characters", "too_long")]
    if text.startswith("@"):
        if text not in ALIASES:
            return None, [_alias_problem(text)]
        text = ALIASES[text]
    texts = tuple(text.split())
    if len(texts) != 5:
        expected = f"expected 5 fields ({_FIELD_NAMES}) or an alias such as @hourly"
        code = "blank" if not texts else "invalid"
        return None, [_Bad(f"{expected}, got {len(texts)}", code)]
    values, problems = [], []
    for spec, field_text in zip(_SPECS, texts, strict=True):
        try:
            values.append(_field_values(spec, field_text))
        except _Bad as bad:
            problems.append(_Bad(f"{spec.name}: {bad.message}", bad.code))
    if problems:
        return None, problems
    fields_ = _Fields(texts, tuple(values))
    if not _ever_fires(fields_):
        message = (
            f"never fires within {SEARCH_YEARS} years: day-of-month "
            f"{texts[_DOM]} never falls in month {texts[_MONTH]}"
        )
        return None, [_Bad(message, "never_fires")]
    return fields_, []


def _alias_problem(text: str) -> _Bad:
    advice = f"use 5 fields or {', '.join(ALIASES)}"
    if text == "@reboot":
        return _Bad(f"'@reboot' is not supported; {advice}", "unsupported")
    return _Bad(f"{text!r} is not an alias; {advice}")


def _field_values(spec: _Spec, text: str) -> frozenset[int]:
    """The values one field allows (day-of-week 7 read as 0); ``_Bad`` if invalid."""
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise _Bad(f"empty item in the list {text!r}")
        values.update(_item_values(spec, item))
    if spec.name == "day-of-week" and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values)


def _item_values(spec: _Spec, item: str) -> range:
    for pattern, what in _EXTENSIONS:
        if pattern.search(item.upper()):
            raise _Bad(f"{item!r} uses {what}, which is not supported", "unsupported")
    base, slash, step_text = item.partition("/")
    if base == "*":
        low, high = spec.low, spec.high
    elif "-" in base:
        low, high = _range(spec, base)
    elif slash:
        example = f"*/{step_text} or {base}-{spec.high}/{step_text}"
        raise _Bad(f"{item!r}: a step needs * or a range before it, e.g. {example}")
    else:
        low = high = spec.value(base)
    return range(low, high + 1, _step(spec, step_text) if slash else 1)


def _range(spec: _Spec, text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    if not first or not last or "-" in last:
        raise _Bad(f"{text!r} is not a range (write a-b)")
    low, high = spec.value(first), spec.value(last)
    if low > high:
        raise _Bad(f"the range {text} runs backwards ({low} > {high})")
    return low, high


def _step(spec: _Spec, text: str) -> int:
    if not _NUMBER.fullmatch(text):
        raise _Bad(f"step {text!r} is not a number")
    if not 1 <= int(text) <= spec.high:
        raise _Bad(f"step {int(text)} is out of range 1-{spec.high}", "out_of_range")
    return int(text)


# The values of a field that does not restrict (``*``).
_EVERY = tuple(_field_values(spec, "*") for spec in _SPECS)


def _ever_fires(fields_: _Fields) -> bool:
    """Some day exists: day-of-week alone always finds one; day-of-month must fall
    in one of the months (29 February counts: it comes every leap year)."""
    if fields_.days_either or fields_.values[_DOM] == _EVERY[_DOM]:
        return True
    longest = max(_DAYS_IN_MONTH[month - 1] for month in fields_.values[_MONTH])
    return min(fields_.values[_DOM]) <= longest


@functools.cache
def time_zones() -> frozenset[str]:
    """The IANA zone names of this machine's zone database: what ``parse`` takes."""
    return frozenset(zoneinfo.available_timezones() - _NOT_ZONES)


@functools.cache
def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    """The zone ``name``, or None unless an IANA name (no paths, no ``localtime``)."""
    if name not in time_zones():
        return None
    return zoneinfo.ZoneInfo(name)


# --- from wall times to instants ---------------------------------------------------


def _instant(wall: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant a naive wall time fires at: its first occurrence, or the
    first instant after the gap it falls in."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap: zoneinfo reads the wall time with the offsets either side of the
    # transition (PEP 495), giving two instants that bracket it. Bisect to it.
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    before, after = sorted((first, other))
    offset_after = after.astimezone(zone).utcoffset()
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) / 2
        if middle.astimezone(zone).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return after.replace(microsecond=0)


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


def _check_count(name: str, count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int):
        raise ValueError(f"{name} must be an integer, got {count!r}")
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"{name} must be 1-{MAX_COUNT}, got {count}")


# --- descriptions --------------------------------------------------------------------


def _describe(fields_: _Fields) -> str:
    """cron-descriptor's English, with its quirks worked around: it follows the
    process locale (we pin en_US); it misreads some spellings (we give it values,
    days of the week Monday first with Sunday as 7); and it says "on day 1 of the
    month, only on Monday" where either day matches (we say "and on Monday")."""
    options = Options()
    options.locale_code = "en_US"
    options.use_24hour_time_format = False
    texts = []
    for text, values, every in zip(fields_.texts, fields_.values, _EVERY, strict=True):
        if values == every or ("," in text and "/" in text):  # it fails on */5,1
            text = "*" if values == every else _runs(values)
        texts.append(text)
    if texts[_DOW] != "*":  # it says "Sunday through Sunday" for 0-7, fails on */7
        texts[_DOW] = _runs({7 if day == 0 else day for day in fields_.values[_DOW]})
    descriptor = ExpressionDescriptor(" ".join(texts), options)
    if not fields_.days_either:
        return descriptor.get_description()
    days = descriptor.get_day_of_week_description().removeprefix(", ")
    days = days.removeprefix("only ")
    if not days.startswith(("on ", "every ")):
        days = f"on {days}"
    text = (
        descriptor.get_time_of_day_description()
        + descriptor.get_day_of_month_description()
        + f", and {days}"
        + descriptor.get_month_description()
    )
    text = descriptor.transform_verbosity(text, options.verbose)
    return descriptor.transform_case(text, options.casing_type)


def _runs(values: set[int]) -> str:
    """Values as a list, runs of three or more as ranges: 1,2,5-7."""
    runs: list[list[int]] = []
    for value in sorted(values):
        if runs and runs[-1][1] == value - 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    spans = [range(first, last + 1) for first, last in runs]
    short = (",".join(map(str, r)) if len(r) < 3 else f"{r[0]}-{r[-1]}" for r in spans)
    return ",".join(short)
