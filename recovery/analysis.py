"""Error signatures for grouping dead letters. Pure.

Two failures are "the same problem" when their job type, error code and normalised
message match. Normalising replaces what varies between occurrences of one problem:

| found in the message                          | becomes   |
|-----------------------------------------------|-----------|
| UUIDs                                         | ``<uuid>``|
| e-mail addresses                              | ``<email>``|
| URLs                                          | ``<url>`` |
| IPv4 addresses (with a port)                  | ``<ip>``  |
| quoted text ('…' or "…")                      | ``<str>`` |
| hex runs of 8+ characters                     | ``<hex>`` |
| numbers                                       | ``<n>``   |
| runs of white space                           | one space |

The result is cut to 200 characters; the signature is a SHA-1 of
``type|code|normalised`` (16 hex characters).
"""

import hashlib
import re

_RULES = [
    (re.compile(r"\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"), "<email>"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I), "<url>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>"),
    (re.compile(r"\b(?:0x)?[0-9a-f]{8,}\b", re.I), "<hex>"),
    (re.compile(r"[-+]?\d+(?:\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
]  # fmt: skip

MAX_LENGTH = 200


def normalise(message: str) -> str:
    text = message or ""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text.strip()[:MAX_LENGTH]


def signature(*, job_type: str, code: str, message: str) -> tuple[str, str]:
    """``(hash, text)`` of the problem behind an error."""
    text = f"{job_type}|{code}|{normalise(message)}"
    return hashlib.sha1(text.encode()).hexdigest()[:16], text[:500]
