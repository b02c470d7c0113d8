"""Previews through API v2: the stand-alone ``GET /api/v2/schedules/preview`` (SPEC
§14) agrees with ``scheduling.cron``'s table of fire times across DST, refuses bad
input naming the field and caps its count; a schedule's own ``…/preview``."""

from datetime import UTC, datetime

import pytest
import time_machine

from scheduling.models import Schedule
from tests.observe import fields
from tests.scheduling.test_cron import FIRE_TIMES

pytestmark = pytest.mark.django_db

PREVIEW = "/api/v2/schedules/preview"
T0 = datetime(2026, 6, 1, 10, 2, tzinfo=UTC)


def preview(api, **query):
    return api.get(PREVIEW, query)


@pytest.mark.parametrize(("expression", "zone", "after", "expected"), FIRE_TIMES)
def test_the_endpoint_agrees_with_the_table(api, expression, zone, after, expected):
    response = preview(
        api, cron=expression, timezone=zone, after=after, count=len(expected)
    )
    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert data["fire_times"] == expected  # ISO 8601 with the zone's offset
    assert data["timezone"] == zone
    assert not Schedule.objects.exists()  # nothing is made


def test_defaults_utc_now_and_five(api):
    with time_machine.travel(T0, tick=False):
        data = preview(api, cron="@hourly").json()["data"]
    assert data == {
        "cron": "@hourly",
        "timezone": "UTC",
        "description": "Every hour",
        "fire_times": [f"2026-06-01T{h}:00:00+00:00" for h in range(11, 16)],
    }


def test_the_count_is_capped_at_100(api):
    after = "2026-01-01T00:00:00+00:00"
    times = preview(api, cron="* * * * *", after=after, count=100).json()["data"]
    assert len(times["fire_times"]) == 100
    assert times["fire_times"][-1] == "2026-01-01T01:40:00+00:00"
    response = preview(api, cron="* * * * *", after=after, count=101)
    assert fields(response) == ["count"]
    assert "100" in response.json()["errors"][0]["message"]


def test_an_expression_that_stops_firing_gives_fewer(api):
    # 29 February: 2096 is the last leap day before 2104, beyond the search window.
    response = preview(api, cron="0 0 29 2 *", after="2090-01-01T00:00:00Z", count=5)
    assert response.json()["data"]["fire_times"] == [
        "2092-02-29T00:00:00+00:00", "2096-02-29T00:00:00+00:00",
    ]  # fmt: skip


# fmt: off
INVALID = [
    ({"cron": "0 25 * * *"}, "cron", "hour: 25 is out of range 0-23"),
    ({"cron": "0 0 * 0 *"}, "cron", "month: 0 is out of range 1-12"),
    ({"cron": "0 0 ? * *"}, "cron", "day-of-month: '?'"),
    ({"cron": "0 0 30 2 *"}, "cron", "never fires"),
    ({"cron": "@fortnightly"}, "cron", "not an alias"),
    ({"cron": " "}, "cron", "blank"),
    ({}, "cron", "required"),
    ({"cron": "@daily", "timezone": "Europe/Atlantis"}, "timezone", "IANA"),
    ({"cron": "@daily", "timezone": "/etc/localtime"}, "timezone", "IANA"),
    ({"cron": "@daily", "count": 0}, "count", "greater than or equal to 1"),
    ({"cron": "@daily", "count": "five"}, "count", "valid integer"),
    ({"cron": "@daily", "after": "yesterday"}, "after", "Datetime has wrong format"),
    ({"cron": "@daily", "after": "2026-13-01T00:00:00Z"}, "after", "wrong format"),
]
# fmt: on


@pytest.mark.parametrize(("query", "field", "words"), INVALID)
def test_bad_input_is_a_400_naming_the_field(api, query, field, words):
    response = preview(api, **query)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert field in errors, errors
    assert words in errors[field]


def test_both_bad_fields_are_named(api):
    response = preview(api, cron="0 0 * * 9", timezone="Mars/Base")
    assert fields(response) == ["cron", "timezone"]


def test_a_schedules_own_preview_is_in_its_zone(api):
    body = {"name": "london", "cron": "30 1 * * *", "timezone": "Europe/London",
            "job": {"type": "demo.noop"}}  # fmt: skip
    with time_machine.travel(datetime(2026, 3, 27, 12, tzinfo=UTC), tick=False):
        created = api.post_json("/api/v2/schedules", body).json()["data"]
        url = f"/api/v2/schedules/{created['id']}/preview"
        data = api.get(url, {"count": 3}).json()["data"]
    # 01:30 does not exist on 29 March (spring forward): it fires at 02:00 BST.
    assert data["fire_times"] == [
        "2026-03-28T01:30:00+00:00", "2026-03-29T02:00:00+01:00",
        "2026-03-30T01:30:00+01:00",
    ]  # fmt: skip
    assert data["cron"] == "30 1 * * *" and data["timezone"] == "Europe/London"
    assert created["next_execution_at"] == "2026-03-28T01:30:00Z"
    after = api.get(url, {"count": 1, "after": "2026-10-25T00:00:00+01:00"})
    assert after.json()["data"]["fire_times"] == ["2026-10-25T01:30:00+01:00"]
    assert fields(api.get(url, {"count": 101})) == ["count"]
    assert fields(api.get(url, {"after": "soon"})) == ["after"]
