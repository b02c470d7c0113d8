"""Cron expressions (pure): fire times across DST, validation, descriptions, properties."""

import locale
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conductor.errors import ValidationFailed
from scheduling.cron import MAX_COUNT, Cron, describe, parse

NY = "America/New_York"
LONDON = "Europe/London"
LORD_HOWE = "Australia/Lord_Howe"  # DST shifts 30 minutes
KATHMANDU = "Asia/Kathmandu"  # +05:45, no DST
ZONES = (NY, LONDON, LORD_HOWE, KATHMANDU, "UTC")


def at(text):
    return datetime.fromisoformat(text)


# --- fire times: the table is the spec ------------------------------------------------

# 2026 transitions (checked with zoneinfo): New York gap 02:00-03:00 on 03-08, overlap
# 01:00-02:00 on 11-01; London gap 01:00-02:00 on 03-29, overlap 01:00-02:00 on 10-25;
# Lord Howe overlap 01:30-02:00 on 04-05 (+11:00 -> +10:30), gap 02:00-02:30 on 10-04.
# 2026-01-01 is a Thursday.
# fmt: off
FIRE_TIMES = [
    # expression, zone, after, the next fire times
    ("0 9 * * *", "UTC", "2026-01-01T09:00:00+00:00", ["2026-01-02T09:00:00+00:00", "2026-01-03T09:00:00+00:00"]),  # strictly after: a fire time equal to `after` is not returned
    ("0 9 * * *", KATHMANDU, "2026-01-01T03:15:00+00:00", ["2026-01-02T09:00:00+05:45"]),  # `after` in another zone: 03:15Z is 09:00 in Kathmandu
    ("*/15 * * * *", "UTC", "2026-01-01T10:07:30+00:00", ["2026-01-01T10:15:00+00:00", "2026-01-01T10:30:00+00:00", "2026-01-01T10:45:00+00:00", "2026-01-01T11:00:00+00:00"]),  # a step from *, `after` mid-minute
    ("5,35 */6 * * *", "UTC", "2026-01-01T05:50:00+00:00", ["2026-01-01T06:05:00+00:00", "2026-01-01T06:35:00+00:00", "2026-01-01T12:05:00+00:00", "2026-01-01T12:35:00+00:00"]),  # a list and a step
    ("0 9-17/4 * * *", "UTC", "2026-01-01T00:00:00+00:00", ["2026-01-01T09:00:00+00:00", "2026-01-01T13:00:00+00:00", "2026-01-01T17:00:00+00:00", "2026-01-02T09:00:00+00:00"]),  # a stepped range includes its start
    ("0 9 1 * 1", "UTC", "2026-11-20T00:00:00+00:00", ["2026-11-23T09:00:00+00:00", "2026-11-30T09:00:00+00:00", "2026-12-01T09:00:00+00:00", "2026-12-07T09:00:00+00:00"]),  # both day fields restricted: the 1st OR a Monday (Celery gets this wrong)
    ("0 0 */2 * mon", "UTC", "2026-01-01T00:00:00+00:00", ["2026-01-03T00:00:00+00:00", "2026-01-05T00:00:00+00:00", "2026-01-07T00:00:00+00:00", "2026-01-09T00:00:00+00:00", "2026-01-11T00:00:00+00:00", "2026-01-12T00:00:00+00:00", "2026-01-13T00:00:00+00:00"]),  # */2 restricts: odd days OR Mondays (the 12th)
    ("0 0 1-31 * mon", "UTC", "2026-01-01T00:00:00+00:00", ["2026-01-05T00:00:00+00:00", "2026-01-12T00:00:00+00:00"]),  # 1-31 allows every day, so it restricts nothing: Mondays only
    ("0 0 31 * *", "UTC", "2026-01-31T00:00:00+00:00", ["2026-03-31T00:00:00+00:00", "2026-05-31T00:00:00+00:00", "2026-07-31T00:00:00+00:00"]),  # months without a 31st are skipped
    ("0 0 29 2 *", "UTC", "2026-01-01T00:00:00+00:00", ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]),  # 29 February: leap years only
    ("0 0 * * 7", "UTC", "2026-01-01T00:00:00+00:00", ["2026-01-04T00:00:00+00:00", "2026-01-11T00:00:00+00:00"]),  # 7 is Sunday
    ("0 0 * * 5-7", "UTC", "2026-01-01T00:00:00+00:00", ["2026-01-02T00:00:00+00:00", "2026-01-03T00:00:00+00:00", "2026-01-04T00:00:00+00:00", "2026-01-09T00:00:00+00:00"]),  # Friday through Sunday
    ("0 12 * JAN,jul Sun", KATHMANDU, "2026-01-20T00:00:00+05:45", ["2026-01-25T12:00:00+05:45", "2026-07-05T12:00:00+05:45", "2026-07-12T12:00:00+05:45"]),  # names in any case; Sundays of January and July
    ("0 9 * * mon-fri", KATHMANDU, "2026-03-06T09:00:00+05:45", ["2026-03-09T09:00:00+05:45", "2026-03-10T09:00:00+05:45", "2026-03-11T09:00:00+05:45"]),  # weekdays: Friday's run is past, next is Monday
    ("*/30 * * * *", KATHMANDU, "2026-06-01T00:00:00+00:00", ["2026-06-01T06:00:00+05:45", "2026-06-01T06:30:00+05:45"]),  # a +05:45 zone: minutes are local minutes
    ("@weekly", "UTC", "2026-01-01T00:00:00+00:00", ["2026-01-04T00:00:00+00:00", "2026-01-11T00:00:00+00:00", "2026-01-18T00:00:00+00:00"]),  # @weekly: Sundays at midnight
    ("@yearly", NY, "2026-06-01T00:00:00-04:00", ["2027-01-01T00:00:00-05:00", "2028-01-01T00:00:00-05:00"]),  # @yearly, in winter time
    ("@monthly", LONDON, "2026-03-15T00:00:00+00:00", ["2026-04-01T00:00:00+01:00", "2026-05-01T00:00:00+01:00"]),  # @monthly, in summer time
    ("@hourly", KATHMANDU, "2026-01-01T00:00:00+00:00", ["2026-01-01T06:00:00+05:45", "2026-01-01T07:00:00+05:45"]),  # @hourly: on the local hour
    ("@daily", LORD_HOWE, "2026-01-01T00:00:00+00:00", ["2026-01-02T00:00:00+11:00", "2026-01-03T00:00:00+11:00"]),  # @daily in Lord Howe's summer
    ("30 2 * * *", "UTC", "2026-03-08T00:00:00+00:00", ["2026-03-08T02:30:00+00:00", "2026-03-09T02:30:00+00:00"]),  # UTC has no DST
    # New York, spring forward 2026-03-08: 02:00-02:59 do not exist
    ("30 2 * * *", NY, "2026-03-07T12:00:00-05:00", ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]),  # a gap wall time fires at the gap's end (07:00Z)
    ("0,30 2,3 * * *", NY, "2026-03-08T00:00:00-05:00", ["2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00", "2026-03-09T02:00:00-04:00"]),  # 02:00, 02:30 and 03:00 collapse into one run
    ("0 * * * *", NY, "2026-03-08T00:30:00-05:00", ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]),  # hourly: the day has 23 hours, so 23 runs
    # New York, fall back 2026-11-01: 01:00-01:59 happen twice
    ("0 * * * *", NY, "2026-10-31T23:30:00-04:00", ["2026-11-01T00:00:00-04:00", "2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"]),  # hourly: 01:00 once (EDT), not again at 01:00 EST
    ("30 1 * * *", NY, "2026-10-31T12:00:00-04:00", ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]),  # a repeated wall time fires at its first occurrence
    ("*/20 * * * *", NY, "2026-11-01T01:50:00-04:00", ["2026-11-01T02:00:00-05:00", "2026-11-01T02:20:00-05:00"]),  # the repeated hour's second pass has no runs: 70 minutes pass
    ("*/20 * * * *", NY, "2026-11-01T01:10:00-05:00", ["2026-11-01T02:00:00-05:00", "2026-11-01T02:20:00-05:00"]),  # `after` inside the second pass: its wall times already fired
    # London, spring forward 2026-03-29 (01:00-01:59 do not exist), fall back 2026-10-25
    ("30 1 * * *", LONDON, "2026-03-28T12:00:00+00:00", ["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"]),  # a gap wall time fires at the gap's end (01:00Z)
    ("30 1 29 3 *", LONDON, "2026-01-01T00:00:00+00:00", ["2026-03-29T02:00:00+01:00", "2027-03-29T01:30:00+01:00"]),  # a date whose only wall time is in the gap still runs
    ("15 1 * * *", LONDON, "2026-10-24T12:00:00+01:00", ["2026-10-25T01:15:00+01:00", "2026-10-26T01:15:00+00:00"]),  # first occurrence (BST), then GMT
    ("*/30 0-2 25 10 *", LONDON, "2026-10-25T00:00:00+01:00", ["2026-10-25T00:30:00+01:00", "2026-10-25T01:00:00+01:00", "2026-10-25T01:30:00+01:00", "2026-10-25T02:00:00+00:00", "2026-10-25T02:30:00+00:00"]),  # through the overlap: no second 01:00 or 01:30
    # Lord Howe: a 30-minute shift
    ("15 2 * * *", LORD_HOWE, "2026-10-03T12:00:00+10:30", ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"]),  # 02:15 does not exist on 10-04: runs at 02:30 (+11:00)
    ("*/10 2 * * *", LORD_HOWE, "2026-10-04T01:55:00+10:30", ["2026-10-04T02:30:00+11:00", "2026-10-04T02:40:00+11:00", "2026-10-04T02:50:00+11:00", "2026-10-05T02:00:00+11:00"]),  # 02:00, 02:10, 02:20 and the real 02:30 are one run
    ("*/15 1 * * *", LORD_HOWE, "2026-04-05T01:00:00+11:00", ["2026-04-05T01:15:00+11:00", "2026-04-05T01:30:00+11:00", "2026-04-05T01:45:00+11:00", "2026-04-06T01:00:00+10:30"]),  # 01:30 and 01:45 happen twice: first occurrence (+11:00) only
    ("0 * * * *", LORD_HOWE, "2026-04-05T00:30:00+11:00", ["2026-04-05T01:00:00+11:00", "2026-04-05T02:00:00+10:30", "2026-04-05T03:00:00+10:30"]),  # 01:00 is not in the overlap: one run; 90 minutes to 02:00
]
# fmt: on


@pytest.mark.parametrize(("expression", "zone", "after", "expected"), FIRE_TIMES)
def test_next_fire_times(expression, zone, after, expected):
    got = parse(expression, zone).times(at(after), len(expected))
    assert [t.isoformat() for t in got] == expected
    assert all(t.tzinfo == ZoneInfo(zone) for t in got)


@pytest.mark.parametrize(("expression", "zone", "after", "expected"), FIRE_TIMES)
def test_after_and_between_agree_with_the_table(expression, zone, after, expected):
    schedule = parse(expression, zone)
    assert schedule.after(at(after)).isoformat() == expected[0]
    window = schedule.between(at(after), at(expected[-1]), MAX_COUNT)
    assert [t.isoformat() for t in window] == expected  # until is inclusive


def test_after_in_the_repeated_hour_is_read_by_its_fold():
    # The same wall time, 01:10 on 2026-11-01 in New York, as the two instants it
    # names. Python compares datetimes sharing a tzinfo by wall time alone, so a
    # careless comparison would treat both alike.
    zone = ZoneInfo(NY)
    schedule = parse("*/20 * * * *", NY)
    first = datetime(2026, 11, 1, 1, 10, tzinfo=zone, fold=0)  # EDT, 05:10Z
    second = datetime(2026, 11, 1, 1, 10, tzinfo=zone, fold=1)  # EST, 06:10Z
    assert schedule.after(first).isoformat() == "2026-11-01T01:20:00-04:00"
    assert schedule.after(second).isoformat() == "2026-11-01T02:00:00-05:00"


def test_between_returns_the_earliest_up_to_the_limit():
    schedule = parse("0 * * * *", "UTC")
    start, end = at("2026-01-01T00:00:00+00:00"), at("2026-01-02T00:00:00+00:00")
    assert [t.hour for t in schedule.between(start, end, 3)] == [1, 2, 3]
    assert len(schedule.between(start, end, MAX_COUNT)) == 24
    assert schedule.between(end, start, 5) == []


def test_each_fire_time_is_searched_for_within_five_years():
    leap_day = parse("0 0 29 2 *", "UTC")
    # 2096 is the last leap year before 2104 (2100 is not one): eight years apart.
    assert leap_day.after(at("2096-03-01T00:00:00+00:00")) is None
    every = leap_day.times(at("2026-01-01T00:00:00+00:00"), MAX_COUNT)
    assert (len(every), every[-1].year) == (18, 2096)
    yearly = parse("@yearly", "UTC").times(at("2026-06-01T00:00:00+00:00"), 10)
    assert [t.year for t in yearly] == list(range(2027, 2037))  # not cut at 5 years


def test_the_end_of_time_is_not_an_error():
    last = datetime.max.replace(tzinfo=UTC)
    assert parse("* * * * *", "Pacific/Kiritimati").after(last) is None
    assert parse("* * * * *", "UTC").times(last, 5) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.after(datetime(2026, 1, 1)),
        lambda c: c.times(datetime(2026, 1, 1), 5),
        lambda c: c.between(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1), 5),
        lambda c: c.between(datetime(2026, 1, 1), datetime(2026, 2, 1, tzinfo=UTC), 5),
    ],
)
def test_naive_datetimes_are_refused(call):
    with pytest.raises(ValueError, match="aware datetime"):
        call(parse("@hourly", "UTC"))


@pytest.mark.parametrize(("count", "limit"), [(0, 0), (MAX_COUNT + 1, MAX_COUNT + 1)])
def test_counts_are_bounded(count, limit):
    schedule, now = parse("@hourly", "UTC"), datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="count"):
        schedule.times(now, count)
    with pytest.raises(ValueError, match="limit"):
        schedule.between(now, now + timedelta(days=9), limit)
    assert len(schedule.times(now, MAX_COUNT)) == MAX_COUNT


def test_the_expression_is_normalized():
    assert parse("  0   9 *\t* 1-5 ", NY).expression == "0 9 * * 1-5"
    assert parse("@Daily", NY) == Cron("@daily", NY)
    with pytest.raises(ValueError):
        Cron("0 0 30 2 *", "UTC")  # a Cron is always valid


# --- validation: the field named, the sub-field in the message ---------------------------

# fmt: off
INVALID = [
    ("", "blank", "expected 5 fields (minute hour day-of-month month day-of-week) or an alias such as @hourly, got 0"),  # nothing
    ("* * * *", "invalid", "expected 5 fields (minute hour day-of-month month day-of-week) or an alias such as @hourly, got 4"),  # too few
    ("0 * * * * *", "invalid", "expected 5 fields (minute hour day-of-month month day-of-week) or an alias such as @hourly, got 6"),  # croniter's seconds field
    ("61 * * * *", "out_of_range", "minute: 61 is out of range 0-59"),  # minute
    ("* 24 * * *", "out_of_range", "hour: 24 is out of range 0-23"),  # hour
    ("* * 0 * *", "out_of_range", "day-of-month: 0 is out of range 1-31"),  # day-of-month starts at 1
    ("* * * 13 *", "out_of_range", "month: 13 is out of range 1-12"),  # month
    ("* * * * 8", "out_of_range", "day-of-week: 8 is out of range 0-7"),  # day-of-week (7 is Sunday, 8 is nothing)
    ("* * * * funday", "invalid", "day-of-week: 'funday' is not a day name"),  # not a day
    ("* * * * monday", "invalid", "day-of-week: 'monday' is not a day name"),  # three-letter names only
    ("* * * sept *", "invalid", "month: 'sept' is not a month name"),  # not a month
    ("mon * * * *", "invalid", "minute: 'mon' is not a number"),  # names belong to their field
    ("* * * * 1.5", "invalid", "day-of-week: '1.5' is not a number"),  # not a number
    ("² * * * *", "invalid", "minute: '²' is not a number"),  # a digit to str.isdigit(), not to int()
    ("*/٣ * * * *", "invalid", "minute: step '٣' is not a number"),  # ASCII digits only
    ("0 0 L * *", "unsupported", "day-of-month: 'L' uses L (the last day), which is not supported"),  # croniter's L
    ("0 0 * * 5L", "unsupported", "day-of-week: '5L' uses L (the last day), which is not supported"),  # last Friday
    ("0 0 15W * *", "unsupported", "day-of-month: '15W' uses W (the nearest weekday), which is not supported"),  # croniter's W
    ("0 0 * * 1#2", "unsupported", "day-of-week: '1#2' uses # (the nth weekday of the month), which is not supported"),  # croniter's #
    ("0 0 ? * *", "unsupported", "day-of-month: '?' uses ? (any value; use *), which is not supported"),  # Quartz's ?
    ("H * * * *", "unsupported", "minute: 'H' uses H (a hashed value), which is not supported"),  # Jenkins' H
    ("@reboot", "unsupported", "'@reboot' is not supported; use 5 fields or @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"),  # not a time
    ("@fortnightly", "invalid", "'@fortnightly' is not an alias; use 5 fields or @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"),  # no such alias
    ("*/0 * * * *", "out_of_range", "minute: step 0 is out of range 1-59"),  # a zero step
    ("0 */24 * * *", "out_of_range", "hour: step 24 is out of range 1-23"),  # a step past the field
    ("30-10 * * * *", "invalid", "minute: the range 30-10 runs backwards (30 > 10)"),  # croniter would wrap around
    ("0 0 * * fri-mon", "invalid", "day-of-week: the range fri-mon runs backwards (5 > 1)"),  # names too
    ("5/15 * * * *", "invalid", "minute: '5/15': a step needs * or a range before it, e.g. */15 or 5-59/15"),  # croniter reads 5-59/15
    ("1,,2 * * * *", "invalid", "minute: empty item in the list '1,,2'"),  # a doubled comma
    ("1-2-3 * * * *", "invalid", "minute: '1-2-3' is not a range (write a-b)"),  # two dashes
    ("*/x * * * *", "invalid", "minute: step 'x' is not a number"),  # a step that is not a number
    ("0 0 30 2 *", "never_fires", "never fires within 5 years: day-of-month 30 never falls in month 2"),  # 30 February
    ("0 0 31 apr,jun,sep,nov *", "never_fires", "never fires within 5 years: day-of-month 31 never falls in month apr,jun,sep,nov"),  # short months
    ("0" + ",0" * 100 + " * * * *", "too_long", "longer than 200 characters"),  # bounded work
]
# fmt: on


@pytest.mark.parametrize(("expression", "code", "message"), INVALID)
def test_invalid_expressions_name_the_field_and_the_sub_field(
    expression, code, message
):
    with pytest.raises(ValidationFailed) as info:
        parse(expression, "UTC")
    assert [e.as_dict() for e in info.value.errors] == [
        {"field": "cron", "message": message, "code": code}
    ]


@pytest.mark.parametrize(
    "expression",
    ["0 0 31 2 mon", "0 0 30,31 2,3 *", "0 0 29 2 *", "0 0 31 1-3 *", "0 0 30 * *"],
)
def test_a_date_that_exists_somewhere_is_valid(expression):
    # Either day field may match (the 31st never comes in February, Mondays do),
    # 29 February comes in leap years, and some listed month has the day.
    assert parse(expression, "UTC").after(at("2026-01-01T00:00:00+00:00"))


def test_every_problem_is_reported_under_the_callers_field_names():
    with pytest.raises(ValidationFailed) as info:
        parse("61 24 * * *", "Mars/Base", field="schedule.cron", timezone_field="tz")
    assert [(e.field, e.message) for e in info.value.errors] == [
        ("schedule.cron", "minute: 61 is out of range 0-59"),
        ("schedule.cron", "hour: 24 is out of range 0-23"),
        ("tz", "'Mars/Base' is not an IANA time zone"),
    ]


@pytest.mark.parametrize(
    "zone",
    ["Mars/Base", "", "america/new_york", "localtime", "../../etc/passwd", "/UTC"],
)
def test_unknown_time_zones_are_refused(zone):
    with pytest.raises(ValidationFailed) as info:
        parse("@daily", zone)
    assert [(e.field, e.message) for e in info.value.errors] == [
        ("timezone", f"{zone!r} is not an IANA time zone")
    ]


# --- descriptions ------------------------------------------------------------------------

# fmt: off
DESCRIPTIONS = [
    ("0 9 1 * 1", "At 09:00 AM, on day 1 of the month, and on Monday"),  # either day: "and on", not "only on"
    ("0 0 */2 * 1", "At 12:00 AM, every 2 days, and on Monday"),  # either day, with a step
    ("*/15 9-17 * * mon-fri", "Every 15 minutes, between 09:00 AM and 05:59 PM, Monday through Friday"),  # business hours
    ("0 12 * * 0,7", "At 12:00 PM, only on Sunday"),  # 0 and 7 are one day
    ("0 0 29 2 *", "At 12:00 AM, on day 29 of the month, only in February"),  # leap day
    ("@hourly", "Every hour"),  # an alias is described by its expansion
    ("@weekly", "At 12:00 AM, only on Sunday"),  # an alias is described by its expansion
]
# fmt: on


@pytest.mark.parametrize(("expression", "expected"), DESCRIPTIONS)
def test_description(expression, expected):
    assert describe(expression) == expected
    assert parse(expression, NY).description == expected


def test_description_is_english_whatever_the_process_locale(monkeypatch):
    # cron-descriptor picks its language and clock from locale.getlocale().
    monkeypatch.setattr(locale, "getlocale", lambda *args: ("de_DE", "UTF-8"))
    assert describe("0 9 1 * 1") == "At 09:00 AM, on day 1 of the month, and on Monday"


def test_describe_refuses_an_invalid_expression():
    with pytest.raises(ValidationFailed):
        describe("0 0 30 2 *")


# --- properties ----------------------------------------------------------------------------

SPECS = (  # name, low, high, names (the i-th stands for low + i)
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    (
        "month",
        1,
        12,
        tuple(
            [
                "jan",
                "feb",
                "mar",
                "apr",
                "may",
                "jun",
                "jul",
                "aug",
                "sep",
                "oct",
                "nov",
                "dec",
            ]
        ),
    ),
    ("day-of-week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
TRANSITIONS = {  # the 2026 transitions, as UTC instants
    NY: ["2026-03-08T07:00:00+00:00", "2026-11-01T06:00:00+00:00"],
    LONDON: ["2026-03-29T01:00:00+00:00", "2026-10-25T01:00:00+00:00"],
    LORD_HOWE: ["2026-04-04T15:00:00+00:00", "2026-10-03T15:30:00+00:00"],
}


@st.composite
def items(draw, low, high, names):
    """One field item as text, and the values it allows."""

    def value(lowest):
        number = draw(st.integers(lowest, high))
        named = names and number - low < len(names) and draw(st.booleans())
        return number, names[number - low] if named else str(number)

    kind = draw(st.sampled_from(["*", "value", "range", "*/n", "range/n"]))
    if kind.startswith("*"):
        first, last, text = low, high, "*"
    elif kind == "value":
        first, text = value(low)
        last = first
    else:
        first, start = value(low)
        last, end = value(first)
        text = f"{start}-{end}"
    step = draw(st.integers(1, high)) if kind.endswith("/n") else 1
    text += f"/{step}" if kind.endswith("/n") else ""
    return text, set(range(first, last + 1, step))


@st.composite
def expressions(draw):
    """A valid-looking expression built from parts, and the values of each field."""
    texts, values = [], []
    for name, low, high, names in SPECS:
        # Mostly * in the day and month fields, or few runs would fall on the
        # days the clocks change.
        if name not in ("minute", "hour") and draw(st.integers(0, 2)):
            parts = [("*", set(range(low, high + 1)))]
        else:
            parts = draw(st.lists(items(low, high, names), min_size=1, max_size=3))
        texts.append(",".join(text for text, _ in parts))
        allowed = set().union(*(v for _, v in parts))
        values.append(
            {0 if v == 7 else v for v in allowed} if name == "day-of-week" else allowed
        )
    return " ".join(texts), values


def zones_and_instants():
    """A zone, and an instant of 2026: most often within 4 hours of one of the
    zone's own clock changes."""

    def instants(zone):
        anywhere = st.datetimes(
            datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC)
        )
        if zone not in TRANSITIONS:
            return anywhere
        near = st.builds(
            lambda base, seconds: at(base) + timedelta(seconds=seconds),
            st.sampled_from(TRANSITIONS[zone]),
            st.integers(-4 * 3600, 4 * 3600),
        )
        return st.one_of(near, near, near, anywhere)

    return st.sampled_from(ZONES).flatmap(lambda z: st.tuples(st.just(z), instants(z)))


def utc(times):
    """Instants to compare: Python compares datetimes sharing a zone by wall time
    (ignoring fold), and one in a repeated hour never equals one in another zone."""
    return [t.astimezone(UTC) for t in times]


def matches(values, wall):
    """The expression's meaning, independently: both day fields restricted means
    either may match."""
    minutes, hours, days, months, weekdays = values
    day, weekday = wall.day in days, (wall.weekday() + 1) % 7 in weekdays
    either = days != set(range(1, 32)) and weekdays != set(range(7))
    day_ok = (day or weekday) if either else (day and weekday)
    return (
        wall.minute in minutes
        and wall.hour in hours
        and wall.month in months
        and day_ok
    )


def exists(wall, zone):
    return (
        wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        == wall
    )


def resolve(wall, zone):
    """The DST rules, independently: first occurrence, or the first wall minute after
    the gap (all 2026 transitions of these zones are on whole minutes)."""
    while not exists(wall, zone):
        wall += timedelta(minutes=1)
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def ever_fires(values):
    _, _, days, months, weekdays = values
    if days == set(range(1, 32)) or weekdays != set(range(7)):
        return True
    return any(
        day <= (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[m - 1]
        for m in months
        for day in days
    )


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.text(alphabet="0123456789*/-,LW#?H@ abcdefjmnorstuy²", max_size=40),
    )
)
def test_parse_accepts_or_names_the_problem_never_crashes(expression):
    try:
        schedule = parse(expression, "UTC")
    except ValidationFailed as failed:
        assert failed.errors and all(e.field == "cron" for e in failed.errors)
    else:
        assert schedule.description
        assert schedule.after(datetime(2026, 1, 1, tzinfo=UTC))


@settings(max_examples=200, deadline=None)
@given(expressions(), zones_and_instants())
def test_fire_times_increase_match_and_agree(expression_values, zone_and_after):
    (expression, values), (zone_name, after) = expression_values, zone_and_after
    if not ever_fires(values):
        with pytest.raises(ValidationFailed, match="never fires"):
            parse(expression, zone_name)
        return
    schedule, zone = parse(expression, zone_name), ZoneInfo(zone_name)
    got = schedule.times(after, 20)
    moments = utc(got)
    assert len(got) == 20 or all((t.month, t.day) == (2, 29) for t in got)
    assert all(t.tzinfo == zone for t in got)
    assert moments[0] > after
    assert all(a < b for a, b in pairwise(moments))  # increasing, so no repeats
    for moment in moments:
        wall = moment.astimezone(zone).replace(tzinfo=None, second=0)
        # the wall time itself, or a wall time in the gap just before it
        candidates = (wall - timedelta(minutes=k) for k in range(0, 181))
        assert any(
            matches(values, c) and resolve(c, zone) == moment for c in candidates
        )
    assert utc([schedule.after(after)]) == moments[:1]
    assert utc(schedule.between(after, got[-1], 20)) == moments
    assert utc(schedule.between(after, got[-1], 5)) == moments[:5]
    assert schedule.between(after, moments[0] - timedelta(microseconds=1), 20) == []
    if len(got) == 20:  # restarting from a fire time continues the same list
        assert utc(schedule.times(got[9], 10)) == moments[10:]
    assert schedule.description


@settings(max_examples=100, deadline=None)
@given(expressions(), zones_and_instants())
def test_no_fire_time_is_skipped_in_the_next_day(expression_values, zone_and_after):
    # Every matching wall minute from 3 hours before `after` to 27 hours after it,
    # resolved by the rules, against what between() returns for the next 24 hours.
    (expression, values), (zone_name, after) = expression_values, zone_and_after
    if not ever_fires(values):
        return
    schedule, zone = parse(expression, zone_name), ZoneInfo(zone_name)
    until = after + timedelta(hours=24)
    first = after.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    walls = (first + timedelta(minutes=k) for k in range(-180, 27 * 60))
    resolved = {resolve(w, zone) for w in walls if matches(values, w)}
    expected = sorted(t for t in resolved if after < t <= until)[:MAX_COUNT]
    assert utc(schedule.between(after, until, MAX_COUNT)) == expected
