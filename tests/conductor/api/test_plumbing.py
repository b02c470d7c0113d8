"""API v2 plumbing on PostgreSQL: negotiation, envelope, problems, auth, pagination."""

import json
import re

import pytest

from conductor.models import Job
from recovery import services as recovery_services

pytestmark = pytest.mark.django_db

JOBS = "/api/v2/jobs"


def _assert_problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["success"] is False
    assert body["status"] == status and body["code"] == code
    assert {"type", "title", "detail", "instance", "errors", "meta"} <= set(body)
    assert body["meta"]["requestId"] == response["X-Request-ID"]
    return body


# --- version negotiation ----------------------------------------------------------------


def test_url_version_and_header_on_every_response(api):
    response = api.get("/api/v2/job-types")
    assert response.status_code == 200
    assert response["X-API-Version"] == "2"
    assert response.json()["meta"]["version"] == "2"


def test_unsupported_url_version_is_400_listing_supported(api):
    body = _assert_problem(api.get("/api/v3/jobs"), 400, "UNSUPPORTED_API_VERSION")
    assert body["supported_versions"] == ["2"]
    assert "2" in body["detail"]


def test_unsupported_header_version_on_an_unversioned_path(api):
    response = api.get("/api/job-types", HTTP_X_API_VERSION="5")
    body = _assert_problem(response, 400, "UNSUPPORTED_API_VERSION")
    assert "X-API-Version" in body["detail"]


def test_unsupported_accept_version(api):
    response = api.get("/api/job-types", HTTP_ACCEPT="application/vnd.k1n.v1+json")
    _assert_problem(response, 400, "UNSUPPORTED_API_VERSION")


def test_vendor_accept_of_a_supported_version_answers_json(api):
    response = api.get("/api/v2/job-types", HTTP_ACCEPT="application/vnd.k1n.v2+json")
    assert response.status_code == 200
    assert response.json()["success"] is True


def test_version_header_on_non_api_pages_too(client):
    assert client.get("/healthz")["X-API-Version"] == "2"


# --- envelope and request id ---------------------------------------------------------------


def test_envelope_shape_and_request_id_echo(api):
    response = api.get("/api/v2/job-types", HTTP_X_REQUEST_ID="req-123.abc")
    body = response.json()
    assert body["success"] is True
    assert isinstance(body["data"], list)
    assert body["meta"]["requestId"] == "req-123.abc" == response["X-Request-ID"]
    assert re.match(r"\d{4}-\d\d-\d\dT", body["meta"]["timestamp"])


def test_request_id_is_generated_when_missing_or_unsafe(api):
    generated = api.get("/api/v2/job-types")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    unsafe = api.get("/api/v2/job-types", HTTP_X_REQUEST_ID="<script>")
    assert unsafe["X-Request-ID"] != "<script>"


def test_unknown_api_path_is_a_problem_not_html(api):
    _assert_problem(api.get("/api/v2/nothing-here"), 404, "NOT_FOUND")


def test_missing_job_is_404_problem(api):
    _assert_problem(
        api.get(f"{JOBS}/00000000-0000-0000-0000-000000000000"), 404, "NOT_FOUND"
    )
    _assert_problem(api.get(f"{JOBS}/not-a-uuid"), 404, "NOT_FOUND")


def test_method_not_allowed_is_a_problem(api):
    _assert_problem(api.delete("/api/v2/job-types"), 405, "METHOD_NOT_ALLOWED")


# --- malformed input: always 4xx, never 5xx -------------------------------------------------

DEEP = "[" * 10_000 + "]" * 10_000


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ('{"type": "demo.noop",', 400, "MALFORMED_REQUEST"),  # truncated JSON
        ("not json at all", 400, "MALFORMED_REQUEST"),
        (DEEP, 400, "MALFORMED_REQUEST"),  # 10,000-deep nesting
        ('{"type": "demo.noop", "payload": {"n": 1e400}}', 400, "MALFORMED_REQUEST"),
        ('{"type": "demo.noop", "payload": {"n": NaN}}', 400, "MALFORMED_REQUEST"),
        (
            '{"type": "demo.noop", "payload": {"n": -Infinity}}',
            400,
            "MALFORMED_REQUEST",
        ),
        (
            '{"type": "demo.noop", "payload": {"n": ' + "9" * 5000 + "}}",
            400,
            "MALFORMED_REQUEST",
        ),  # integer longer than Python parses
        (
            '{"type": "demo.noop", "payload": {"s": "\\ud800"}}',
            400,
            "INVALID_JSON_VALUE",
        ),
        ('{"type": "demo.noop", "payload": {"\\udc00": 1}}', 400, "INVALID_JSON_VALUE"),
        (
            '{"type": "demo.noop", "payload": {"s": "a\\u0000b"}}',
            400,
            "INVALID_JSON_VALUE",
        ),
        (
            b'{"type": "demo.noop", "payload": {"s": "\xff\xfe"}}',
            400,
            "MALFORMED_REQUEST",
        ),
        ("[1, 2, 3]", 400, "VALIDATION_ERROR"),  # not an object
        ('"just a string"', 400, "VALIDATION_ERROR"),
        ('{"type": 5}', 400, "VALIDATION_ERROR"),  # wrong type
        ('{"type": "demo.noop", "payload": []}', 400, "VALIDATION_ERROR"),
        ('{"type": "demo.noop", "priority": "urgent"}', 400, "VALIDATION_ERROR"),
        ('{"type": "demo.noop", "max_retries": "many"}', 400, "VALIDATION_ERROR"),
        ('{"type": "demo.noop", "max_retries": 11}', 400, "VALIDATION_ERROR"),
        ('{"type": "demo.noop", "run_at": "yesterday"}', 400, "VALIDATION_ERROR"),
        ('{"type": ["demo.noop"]}', 400, "VALIDATION_ERROR"),
        ('{"type": "demo.noop", "typo_field": 1}', 400, "VALIDATION_ERROR"),
    ],
)
def test_malformed_bodies_are_4xx_problems(api, body, status, code):
    response = api.post_json(JOBS, body)
    _assert_problem(response, status, code)
    assert Job.objects.count() == 0


def test_lone_surrogate_error_names_the_field(api):
    body = api.post_json(
        JOBS, '{"type": "demo.noop", "payload": {"s": "\\ud800"}}'
    ).json()
    assert body["errors"][0]["field"] == "body.payload.s"


def test_wrong_type_error_names_the_field(api):
    body = api.post_json(JOBS, '{"type": "demo.noop", "max_retries": "many"}').json()
    assert [e["field"] for e in body["errors"]] == ["max_retries"]


def test_oversize_body_is_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"type": "demo.noop", "payload": {"blob": "x" * 20_000}})
    _assert_problem(api.post_json(JOBS, body), 413, "PAYLOAD_TOO_LARGE")


def test_non_json_content_type_is_415(api):
    response = api.post(JOBS, "type=demo.noop", content_type="text/plain")
    _assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")


# --- auth ------------------------------------------------------------------------------


def test_no_credentials_is_401_with_challenge(anon):
    body = _assert_problem(anon.get(JOBS), 401, "UNAUTHENTICATED")
    assert "credentials" in body["detail"].lower()
    assert anon.get(JOBS)["WWW-Authenticate"] == "Api-Key"


def test_unknown_or_revoked_key_is_401(anon, make_key):
    anon.credentials(HTTP_AUTHORIZATION="Api-Key nope.nothing")
    _assert_problem(anon.get(JOBS), 401, "UNAUTHENTICATED")
    from conductor import services
    from conductor.models import ApiKey

    key = make_key(scopes=["read"], name="to-revoke")
    services.api_key_revoke(key=ApiKey.objects.get(name="to-revoke"), actor="t")
    anon.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    _assert_problem(anon.get(JOBS), 401, "UNAUTHENTICATED")


def test_keys_are_hashed_at_rest(make_key):
    from conductor.models import ApiKey

    key = make_key(scopes=["read"], name="hashed")
    row = ApiKey.objects.get(name="hashed")
    assert key not in row.hashed_key and row.hashed_key.startswith("sha512$$")


def test_read_scope_may_read_but_not_write(anon, make_key):
    anon.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_key(scopes=['read'])}")
    assert anon.get(JOBS).status_code == 200
    body = _assert_problem(
        anon.post_json(JOBS, {"type": "demo.noop"}), 403, "FORBIDDEN"
    )
    assert "write" in body["detail"]


def test_write_scope_may_submit(anon, make_key):
    anon.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_key(scopes=['write'])}")
    assert anon.post_json(JOBS, {"type": "demo.noop"}).status_code == 201


@pytest.mark.parametrize(
    ("role", "get_status", "post_status"),
    [
        ("viewer", 200, 403),
        ("operator", 200, 201),
        ("admin", 200, 201),
        (None, 403, 403),
    ],
)
def test_session_roles(make_user, role, get_status, post_status):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(make_user(username=f"u-{role}", role=role))
    assert client.get(JOBS).status_code == get_status
    response = client.post(JOBS, {"type": "demo.noop"}, format="json")
    assert response.status_code == post_status


def test_session_writes_need_csrf(make_user):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(make_user(username="csrf", role="operator"))
    response = client.post(JOBS, {"type": "demo.noop"}, format="json")
    _assert_problem(response, 403, "FORBIDDEN")
    assert "CSRF" in response.json()["detail"]


# --- pagination ----------------------------------------------------------------------


def test_cursor_pagination_walks_every_job_once(api):
    ids = {
        api.post_json(JOBS, {"type": "demo.noop"}).json()["data"]["id"]
        for _ in range(7)
    }
    seen, url, pages = [], f"{JOBS}?page_size=3", 0
    while url:
        body = api.get(url).json()
        seen += [job["id"] for job in body["data"]]
        pagination = body["meta"]["pagination"]
        assert pagination["page_size"] == 3
        url = pagination["next"]
        pages += 1
        if url:
            assert pagination["has_more"] is True and pagination["next_cursor"]
    assert pages == 3
    assert len(seen) == 7 and set(seen) == ids


def test_bad_cursor_or_page_size_is_400_naming_it(api):
    body = _assert_problem(api.get(f"{JOBS}?cursor=garbage"), 400, "VALIDATION_ERROR")
    assert body["errors"][0]["field"] == "cursor"
    for bad in ("0", "x", "501", "-1"):
        body = _assert_problem(
            api.get(f"{JOBS}?page_size={bad}"), 400, "VALIDATION_ERROR"
        )
        assert body["errors"][0]["field"] == "page_size"


# --- OpenAPI --------------------------------------------------------------------------------


def test_schema_lists_operations_envelope_errors_and_auth(anon):
    response = anon.get(
        "/api/v2/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.1")
    submit = schema["paths"]["/api/v2/jobs"]["post"]
    assert submit["x-required-scope"] == "write"
    assert {"400", "401", "403", "413"} <= set(submit["responses"])
    ok = submit["responses"]["201"]["content"]["application/json"]["schema"]
    assert set(ok["properties"]) == {"success", "data", "meta"}
    assert "ApiKeyAuth" in schema["components"]["securitySchemes"]
    assert {"ApiKeyAuth": []} in submit["security"]


@pytest.mark.parametrize("page", ["/api/v2/docs/", "/api/v2/redoc/"])
def test_docs_pages_load_nothing_from_other_hosts(anon, page):
    response = anon.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"(src|href)=\"https?://", html), html
    assert "fonts.googleapis" not in html


def _document(anon) -> dict:
    response = anon.get("/api/v2/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_submit_body_has_one_variant_per_job_type_with_its_payload(anon):
    schemas = _document(anon)["components"]["schemas"]
    body = schemas["JobSubmitInRequest"]
    mapping = body["discriminator"]["mapping"]
    assert {"demo.noop", "demo.sleep", "demo.flaky"} <= set(mapping)
    sleep = schemas[mapping["demo.sleep"].rsplit("/", 1)[1]]
    assert sleep["properties"]["type"]["enum"] == ["demo.sleep"]
    assert "payload" in sleep["required"]  # {} lacks "seconds"
    payload = schemas[sleep["properties"]["payload"]["$ref"].rsplit("/", 1)[1]]
    assert payload["properties"]["seconds"]["maximum"] == 3600
    assert payload["additionalProperties"] is False


def test_document_says_what_the_server_refuses(anon):
    document = _document(anon)
    schemas = document["components"]["schemas"]
    # Strict inputs refuse unknown fields; text may not hold NUL.
    cancel = schemas["JobCancelInRequest"]
    assert cancel["additionalProperties"] is False
    assert re.search(cancel["properties"]["reason"]["pattern"], "a\x00b") is None
    # Conflicts of the actions on one job are documented.
    for action in ("cancel", "retry", "resume"):
        responses = document["paths"][f"/api/v2/jobs/{{id}}/{action}"]["post"]
        assert "409" in responses["responses"]
    # A result may be null without two branches of a oneOf matching it.
    assert "oneOf" not in schemas["JobOut"]["properties"]["result"]


def test_an_integral_float_is_an_integer_and_a_fraction_is_not(api):
    recovery_services.breaker_ensure(service="fuzzy")
    path = "/api/v2/breakers/fuzzy"
    response = api.patch(path, {"timeout_ms": 999165.0}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["timeout_ms"] == 999165
    body = _assert_problem(
        api.patch(path, {"timeout_ms": 999165.5}, format="json"),
        400,
        "VALIDATION_ERROR",
    )
    assert body["errors"][0]["field"] == "timeout_ms"


def test_execute_waits_the_limit_by_default_when_it_is_shorter(api, settings):
    settings.CONDUCTOR_JOBS_EXECUTE_MAX_WAIT_S = 0.1
    response = api.post_json(f"{JOBS}/execute", {"type": "demo.noop"})
    assert response.status_code == 202, response.content


def test_bulk_refuses_unknown_fields_naming_them(api):
    body = _assert_problem(
        api.post_json(f"{JOBS}/bulk", {"jobs": [{"type": "demo.noop"}], "x": 1}),
        400,
        "VALIDATION_ERROR",
    )
    assert [e["field"] for e in body["errors"]] == ["x"]
    assert Job.objects.count() == 0


def test_a_workflow_node_depending_on_an_object_is_400_not_500(api):
    node = {"id": "a", "type": "demo.noop", "depends_on": [{}]}
    response = api.post_json(
        "/api/v2/workflows/validate", {"definition": {"nodes": [node]}}
    )
    body = _assert_problem(response, 400, "VALIDATION_ERROR")
    assert body["errors"][0]["field"] == "nodes[0].depends_on[0]"
