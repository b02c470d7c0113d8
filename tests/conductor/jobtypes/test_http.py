"""Job type http.request: payload schema, status classification, and real calls to a
loopback server through the registered handler."""

import json

import pytest

from conductor import registry
from conductor.engine.context import JobContext, JobError
from conductor.jobtypes import http
from tests.conductor.egress.loopback import closed_port

U = "https://x.test"
MERGE = {"content-type": "application/merge-patch+json"}


def run(payload: dict):
    spec = registry.get("http.request")
    assert registry.validate(spec, payload) == [], "the test payload must be valid"
    ctx = JobContext(job_id="j", job_type="http.request", attempt=1)
    return spec.handler(ctx, payload)


def fails(payload: dict) -> JobError:
    with pytest.raises(JobError) as caught:
        run(payload)
    return caught.value


# --- Pure ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expect", "failure"),
    [
        (200, None, None),  # 2xx is success by default
        (204, None, None),  # any 2xx
        (500, None, ("HTTP_5XX", True)),  # server error: retry
        (503, None, ("HTTP_5XX", True)),  # unavailable: retry
        (429, None, ("RATE_LIMITED", True)),  # throttled: retry later
        (404, None, ("HTTP_4XX", False)),  # client error: retrying cannot help
        (400, None, ("HTTP_4XX", False)),  # bad request
        (301, None, ("HTTP_3XX", False)),  # redirect: not followed, a failure
        (302, [302], None),  # ... unless expected
        (404, [200, 404], None),  # an expected 404 (e.g. "make sure it is gone")
        (200, [201], ("UNEXPECTED_STATUS", False)),  # 2xx but not the one expected
        (500, [200], ("HTTP_5XX", True)),  # unexpected 5xx keeps its class
        (101, None, ("UNEXPECTED_STATUS", False)),  # informational
    ],
)
def test_classify_status(status, expect, failure):
    assert http.classify_status(status, expect) == failure


@pytest.mark.parametrize(
    ("headers", "body", "sent_headers", "sent"),
    [
        ({}, None, {}, None),  # no body
        ({}, "plain", {}, b"plain"),  # text as UTF-8, no content type added
        ({}, {"a": 1}, {"Content-Type": "application/json"}, b'{"a":1}'),  # JSON
        ({}, [1, "é"], {"Content-Type": "application/json"}, b'[1,"\\u00e9"]'),  # array
        (MERGE, {"a": None}, MERGE, b'{"a":null}'),  # the caller's content type wins
    ],
)
def test_encode_body(headers, body, sent_headers, sent):
    assert http.encode_body(headers, body) == (sent_headers, sent)


@pytest.mark.parametrize(
    ("content", "content_type", "truncated", "body"),
    [
        (b'{"a": 1}', "application/json", False, {"a": 1}),  # JSON parsed
        (b'{"a": 1}', "application/problem+json", False, {"a": 1}),  # +json too
        (b'{"a": 1}', "text/plain", False, '{"a": 1}'),  # not JSON by type: text
        (b'{"a": 1', "application/json", False, '{"a": 1'),  # broken JSON: text
        (b'{"a": 1}', "application/json", True, '{"a": 1}'),  # cut JSON: text
        (b'{"x": NaN}', "application/json", False, '{"x": NaN}'),  # NaN is not JSON
        (b'["\\u0000"]', "application/json", False, '["\\u0000"]'),  # jsonb refuses NUL
        (b"caf\xe9", "text/plain; charset=latin-1", False, "café"),  # declared charset
        (b"caf\xe9", "text/plain", False, "caf\ufffd"),  # bad UTF-8 replaced
        (b"a\x00b", "text/plain", False, "a\ufffdb"),  # NUL replaced
        (b"ok", "text/plain; charset=nonsense", False, "ok"),  # unknown charset
    ],
)
def test_decode_body(content, content_type, truncated, body):
    assert http.decode_body(content, content_type, truncated=truncated) == body


# --- Schema ----------------------------------------------------------------------------


def test_sample_payload_is_valid():
    spec = registry.get("http.request")
    assert registry.validate(spec, dict(spec.sample_payload)) == []


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, ["payload.url"]),  # url is required
        ({"url": "ftp://x.test/"}, ["payload.url"]),  # http(s) only
        ({"url": 5}, ["payload.url"]),  # wrong type
        ({"url": U, "method": "TRACE"}, ["payload.method"]),  # not in the list
        ({"url": U, "timeout_s": 0}, ["payload.timeout_s"]),  # under 0.1 s
        ({"url": U, "timeout_s": 121}, ["payload.timeout_s"]),  # over 120 s
        ({"url": U, "headers": {"X": 1}}, ["payload.headers.X"]),  # values are strings
        ({"url": U, "headers": {"X": "a\r\nB: c"}}, ["payload.headers.X"]),  # no CRLF
        ({"url": U, "headers": {"a b": "x"}}, ["payload.headers"]),  # bad header name
        ({"url": U, "body": 5}, ["payload.body"]),  # string, object or array
        ({"url": U, "expect_status": [99]}, ["payload.expect_status[0]"]),  # no status
        ({"url": U, "expect_status": []}, ["payload.expect_status"]),  # empty list
        ({"url": U, "extra": 1}, ["payload"]),  # unknown field
    ],
)
def test_bad_payloads_name_the_path(payload, fields):
    errors = registry.validate(registry.get("http.request"), payload)
    assert [e.field for e in errors] == fields


# --- Calls ------------------------------------------------------------------------------


def test_json_result(loopback, allow_loopback):
    result = run({"url": loopback.url("/json")})
    assert result["status"] == 200
    assert result["body"] == {"ok": True, "method": "GET", "path": "/json"}
    assert result["headers"]["content-type"] == "application/json"
    assert result["truncated"] is False
    assert isinstance(result["elapsed_ms"], int)
    assert set(result) == {"status", "headers", "body", "truncated", "elapsed_ms"}
    json.dumps(result, allow_nan=False)  # storable as the job's result


def test_text_result_and_no_cookies(loopback, allow_loopback):
    assert run({"url": loopback.url("/text")})["body"] == "café \ufffdok"
    result = run({"url": loopback.url("/cookie")})
    assert "set-cookie" not in result["headers"]


def test_json_body_arrives_with_its_content_type(loopback, allow_loopback):
    result = run(
        {
            "url": loopback.url("/echo"),
            "method": "POST",
            "headers": {"X-Request-Id": "r-1"},
            "body": {"order": 42, "items": ["a"]},
        }
    )
    seen = loopback.seen[-1]
    assert seen["method"] == "POST"
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["x-request-id"] == "r-1"
    assert json.loads(seen["body"]) == {"order": 42, "items": ["a"]}
    assert result["body"]["method"] == "POST"


def test_big_body_is_cut_to_64_kib(loopback, allow_loopback):
    result = run({"url": loopback.url("/big?n=200000")})
    assert result["truncated"] is True
    assert result["body"] == "y" * http.RESULT_BODY_BYTES


@pytest.mark.parametrize(
    ("path", "code", "retryable"),
    [
        ("/status/500", "HTTP_5XX", True),  # server error
        ("/status/502", "HTTP_5XX", True),  # bad gateway
        ("/status/404", "HTTP_4XX", False),  # not found
        ("/status/429", "RATE_LIMITED", True),  # throttled
        ("/redirect", "HTTP_3XX", False),  # redirect not followed
    ],
)
def test_failure_codes(loopback, allow_loopback, path, code, retryable):
    error = fails({"url": loopback.url(path)})
    assert (error.code, error.retryable) == (code, retryable)
    assert [seen["path"] for seen in loopback.seen] == [path]  # called once


def test_expected_redirect_succeeds(loopback, allow_loopback):
    result = run({"url": loopback.url("/redirect"), "expect_status": [301, 302]})
    assert (result["status"], result["headers"]["location"]) == (302, "/json")


def test_failure_message_has_status_and_excerpt_but_no_query_or_password(
    loopback, allow_loopback
):
    url = loopback.url("/status/500?token=s3cret").replace("://", "://me:pw-s3cret@")
    error = fails({"url": url})
    assert error.message.startswith(
        f"HTTP 500 from GET http://127.0.0.1:{loopback.port}"
    )
    assert "status 500 body" in error.message
    assert "s3cret" not in error.message


def test_timeout(loopback, allow_loopback):
    error = fails({"url": loopback.url("/slow?s=5"), "timeout_s": 0.3})
    assert (error.code, error.retryable) == ("TIMEOUT", True)


def test_connection_refused(allow_loopback):
    error = fails({"url": f"http://127.0.0.1:{closed_port()}/"})
    assert (error.code, error.retryable) == ("CONNECTION_ERROR", True)


def test_loopback_is_refused_without_the_allow_list(loopback, settings):
    settings.CONDUCTOR_EGRESS_ALLOW_HOSTS = []
    settings.CONDUCTOR_EGRESS_ALLOW_PORTS = [loopback.port]
    error = fails({"url": loopback.url("/json")})
    assert (error.code, error.retryable) == ("EGRESS_REFUSED", False)
    assert "loopback" in error.message
    assert loopback.seen == []


def test_metadata_address_is_refused(settings):
    settings.CONDUCTOR_EGRESS_ALLOW_HOSTS = []
    error = fails({"url": "http://169.254.169.254/latest/meta-data/"})
    assert (error.code, error.retryable) == ("EGRESS_REFUSED", False)
