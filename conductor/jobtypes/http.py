"""Job type ``http.request``: call a URL through the SSRF guard (``conductor.egress``).

Decides which answers are a success and which failures are worth a retry (SPEC §2):

    answer                                   code               retryable
    status in expect_status (default 2xx)    (success)          -
    429                                      RATE_LIMITED       yes
    5xx                                      HTTP_5XX           yes
    other 4xx                                HTTP_4XX           no
    3xx (redirects are never followed)       HTTP_3XX           no
    any other unexpected status              UNEXPECTED_STATUS  no
    time budget spent                        TIMEOUT            yes
    no connection / connection broken        CONNECTION_ERROR   yes
    refused by the SSRF guard                EGRESS_REFUSED     no
    request that cannot be sent              INVALID_REQUEST    no

The result keeps at most 64 KiB of the body: parsed JSON when the answer is JSON and
whole, text otherwise, with ``truncated`` saying whether anything was cut.
"""

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from django.conf import settings

from conductor import egress, jsonvalue
from conductor.engine.context import JobContext, JobError
from conductor.registry import job_type

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
RESULT_BODY_BYTES = 64 * 1024
_RETRYABLE_NETWORK = frozenset({"TIMEOUT", "CONNECTION_ERROR"})
# Session cookies are credentials; a job result is readable by every API reader.
_HIDDEN_HEADERS = frozenset({"set-cookie", "set-cookie2"})
_JSON_TYPE = re.compile(r"^application/([\w.+-]+\+)?json\b", re.IGNORECASE)
_CHARSET = re.compile(r"charset=\"?([\w.:-]+)", re.IGNORECASE)

#: Request headers whose values are credentials.
SECRET_HEADERS = (
    "authorization", "proxy-authorization", "cookie", "x-api-key", "api-key",
    "x-auth-token",
)  # fmt: skip
_HEADER_VALUE = {
    "type": "string",
    "maxLength": 8192,
    "not": {"type": "string", "pattern": "[\\r\\n\\x00]"},
}


def _any_case(names: tuple[str, ...]) -> str:
    """A pattern matching exactly these names in any case, written without inline
    flags so that every JSON Schema dialect reads it (``[Aa][Uu]…``)."""
    spelled = (
        "".join(
            f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in name
        )
        for name in names
    )
    return f"^(?:{'|'.join(spelled)})$"


SCHEMA = {
    "type": "object",
    "properties": {
        "url": {
            "type": "string",
            "format": "uri",
            "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
            "maxLength": 2048,
            "description": "http or https URL; private addresses are refused.",
        },
        "method": {"enum": list(METHODS), "default": "GET"},
        "headers": {
            "type": "object",
            "maxProperties": 100,
            "propertyNames": {
                "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
                # jsonschema's "$" also matches before a final newline.
                "not": {"type": "string", "pattern": "[\\r\\n]"},
                "maxLength": 256,
            },
            # Credentials are sealed at rest and shown masked (conductor.secrets).
            "patternProperties": {
                _any_case(SECRET_HEADERS): {**_HEADER_VALUE, "x-secret": True}
            },
            "additionalProperties": _HEADER_VALUE,
        },
        "body": {
            "type": ["string", "object", "array"],
            "description": "Text, or JSON sent as application/json.",
        },
        "timeout_s": {"type": "number", "minimum": 0.1, "maximum": 120, "default": 15},
        "expect_status": {
            "type": "array",
            "items": {"type": "integer", "minimum": 100, "maximum": 599},
            "minItems": 1,
            "uniqueItems": True,
            "description": "Statuses that count as success (default: any 2xx).",
        },
    },
    "required": ["url"],
    "additionalProperties": False,
}


@job_type(
    "http.request",
    schema=SCHEMA,
    description=(
        "Calls `url` once with `method`, `headers` and `body` (a JSON body is sent as "
        "application/json). Redirects are not followed. 5xx, 429, timeouts and "
        "connection errors are retried; other 4xx and 3xx are not. Private, loopback "
        "and link-local addresses are refused unless CONDUCTOR_EGRESS_ALLOW_HOSTS "
        "names them. The result holds status, headers and up to 64 KiB of the body."
    ),
    sample_payload={
        "url": "https://example.com/api/orders",
        "method": "POST",
        "headers": {"Authorization": "Bearer <token>"},
        "body": {"order_id": 42},
        "timeout_s": 10,
    },
    timeout_s=130,
    max_retries=5,
)
def http_request(ctx: JobContext, payload: dict) -> dict:
    headers, body = encode_body(payload.get("headers") or {}, payload.get("body"))
    ctx.raise_if_cancelled()
    response = _call(payload, headers, body)
    failure = classify_status(response.status, payload.get("expect_status"))
    if failure is not None:
        code, retryable = failure
        raise JobError(code, _failure_message(payload, response), retryable=retryable)
    return result(response)


def classify_status(status: int, expect: Sequence[int] | None) -> tuple | None:
    """``(code, retryable)`` for a status that is not a success, else None."""
    success = (status in expect) if expect else (200 <= status < 300)
    if success:
        return None
    if status == 429:
        return "RATE_LIMITED", True
    if 500 <= status < 600:
        return "HTTP_5XX", True
    if 400 <= status < 500:
        return "HTTP_4XX", False
    if 300 <= status < 400:
        return "HTTP_3XX", False
    return "UNEXPECTED_STATUS", False


def encode_body(headers: Mapping[str, str], body: Any) -> tuple[dict, bytes | None]:
    """The bytes to send and the headers to send them with."""
    headers = dict(headers)
    if body is None:
        return headers, None
    if isinstance(body, str):
        return headers, body.encode("utf-8")
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    return headers, json.dumps(body, separators=(",", ":")).encode("utf-8")


def result(response: egress.EgressResponse) -> dict:
    """What the job records: status, headers (lower-case, no cookies), body."""
    headers = {k: v for k, v in response.headers.items() if k not in _HIDDEN_HEADERS}
    content_type = response.headers.get("content-type", "")
    return {
        "status": response.status,
        "headers": headers,
        "body": decode_body(response.body, content_type, truncated=response.truncated),
        "truncated": response.truncated,
        "elapsed_ms": response.elapsed_ms,
    }


def decode_body(content: bytes, content_type: str, *, truncated: bool) -> Any:
    """Parsed JSON for a whole JSON answer that can be stored, text otherwise."""
    text = _text(content, content_type)
    if truncated or not _JSON_TYPE.match(content_type.strip()):
        return text
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return text
    return text if jsonvalue.problems(value, path="body") else value


def _text(content: bytes, content_type: str) -> str:
    match = _CHARSET.search(content_type)
    try:
        text = content.decode(match.group(1) if match else "utf-8", "replace")
    except LookupError:  # a charset Python does not know
        text = content.decode("utf-8", "replace")
    # PostgreSQL's jsonb cannot hold NUL.
    return text.replace("\x00", "\ufffd")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _call(payload: dict, headers: dict, body: bytes | None) -> egress.EgressResponse:
    try:
        return egress.request(
            payload.get("method", "GET"),
            payload["url"],
            headers=headers,
            body=body,
            timeout_s=payload.get("timeout_s"),
            max_bytes=min(
                settings.CONDUCTOR_EGRESS_MAX_RESPONSE_BYTES, RESULT_BODY_BYTES
            ),
        )
    except egress.EgressRefused as exc:
        raise JobError("EGRESS_REFUSED", exc.reason, retryable=False) from exc
    except egress.EgressError as exc:
        retryable = exc.code in _RETRYABLE_NETWORK
        raise JobError(exc.code, exc.message, retryable=retryable) from exc


def _failure_message(payload: dict, response: egress.EgressResponse) -> str:
    excerpt = " ".join(_text(response.body[:300], "").split())[:200]
    where = f"{payload.get('method', 'GET')} {_without_secrets(payload['url'])}"
    return f"HTTP {response.status} from {where}" + (f": {excerpt}" if excerpt else "")


def _without_secrets(url: str) -> str:
    """Scheme, host and path: user info and query strings often carry credentials."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}{parsed.path}"
