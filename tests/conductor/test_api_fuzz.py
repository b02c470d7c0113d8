"""Schemathesis against the API's own OpenAPI document: no 5xx, responses match it."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from conductor.wsgi import application

# Loading the document needs no database: the schema view is public.
schema = schemathesis.openapi.from_wsgi("/api/v2/schema/?format=json", application)


@pytest.fixture
def short_connections():
    """Close each request's connection at its end, whichever thread served it, so the
    test database can be flushed and dropped afterwards."""
    from django.db import connections

    config = connections.settings["default"]
    previous, config["CONN_MAX_AGE"] = config["CONN_MAX_AGE"], 0
    yield
    config["CONN_MAX_AGE"] = previous


@pytest.fixture
def auth_header(make_key, short_connections):
    return {"Authorization": f"Api-Key {make_key(scopes=['read', 'write'])}"}


# The WSGI handler closes the connection after each request, as in production, so the
# data must be committed: a transactional test.
@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, auth_header):
    # Every check, none excluded.
    case.call_and_validate(headers=auth_header)
