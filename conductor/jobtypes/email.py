"""Job type ``email.send``: one message through Django's configured e-mail backend.

Decides what a payload becomes and which failures are worth a retry (SPEC §2):

- Content comes from a template base (``<base>.subject.txt``, ``<base>.txt``,
  ``<base>.html``, rendered with ``context``; HTML is auto-escaped, text parts are
  not) or from ``subject`` + ``text``/``html``. A message with HTML always carries a
  plain-text alternative (derived from the HTML when none is given).
- Attachments are base64; their decoded total may not pass
  ``CONDUCTOR_EMAIL_MAX_ATTACHMENT_BYTES``.
- The Message-ID is derived from the job id, so a retry after an uncertain send
  carries the same id and receivers can drop the duplicate.

    failure                                         code                 retryable
    template (or a part it needs) missing           TEMPLATE_NOT_FOUND   no
    template cannot be parsed or rendered           TEMPLATE_ERROR       no
    attachment not base64 / over the size limit     VALIDATION_ERROR     no
    recipients or message refused (SMTP 5xx)        EMAIL_REJECTED       no
    every recipient refused temporarily (4xx)       EMAIL_REJECTED       yes
    message refused temporarily (SMTP 4xx)          SERVICE_UNAVAILABLE  yes
    SMTP authentication failed                      AUTH_ERROR           no
    socket timeout                                  TIMEOUT              yes
    no connection / connection lost                 CONNECTION_ERROR     yes
"""

import base64
import binascii
import html
import mimetypes
import re
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import Context, Engine, TemplateDoesNotExist
from django.utils import timezone
from django.utils.html import strip_tags

from conductor.engine.context import JobContext, JobError
from conductor.registry import job_type

_ADDRESS = {
    "type": "string",
    "maxLength": 254,
    "pattern": '^[^@\\s<>()\\[\\],;:"]+@[^@\\s<>()\\[\\],;:"]+$',
    # jsonschema's "$" also matches before a final newline: rule whitespace out.
    "not": {"type": "string", "pattern": "\\s"},
}
# Present but forbidden. Not ``False``: jsonschema drops the path of that error.
_FORBIDDEN = {"not": {}}


def _addresses(min_items: int, max_items: int) -> dict:
    return {
        "type": "array",
        "items": _ADDRESS,
        "minItems": min_items,
        "maxItems": max_items,
    }


SCHEMA = {
    "type": "object",
    "properties": {
        "to": _addresses(1, 50),
        "cc": _addresses(0, 50),
        "bcc": _addresses(0, 50),
        "reply_to": _addresses(0, 10),
        "from_email": _ADDRESS,
        "subject": {"type": "string", "minLength": 1, "maxLength": 998},
        "template": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_][A-Za-z0-9_./-]*$",
            "not": {"type": "string", "pattern": "\\.\\."},
            "maxLength": 200,
            "description": "Base name: renders <base>.subject.txt, .txt and .html.",
        },
        "context": {"type": "object"},
        "text": {"type": "string"},
        "html": {"type": "string"},
        "attachments": {
            "type": "array",
            "maxItems": 20,
            "items": {
                "type": "object",
                "properties": {
                    "filename": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 255,
                        "not": {"type": "string", "pattern": "[/\\\\\\x00-\\x1f]"},
                    },
                    "content_base64": {"type": "string"},
                    "mimetype": {"type": "string", "pattern": "^[\\w.+-]+/[\\w.+-]+$"},
                },
                "required": ["filename", "content_base64"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["to"],
    "additionalProperties": False,
    # A template brings its own bodies; without one, subject and a body are needed.
    "dependentSchemas": {
        "template": {"properties": {"text": _FORBIDDEN, "html": _FORBIDDEN}}
    },
    "dependentRequired": {"context": ["template"]},
    "if": {"not": {"required": ["template"]}},
    "then": {
        "required": ["subject"],
        "anyOf": [{"required": ["text"]}, {"required": ["html"]}],
    },
}


@job_type(
    "email.send",
    schema=SCHEMA,
    description=(
        "Sends one e-mail with the configured backend (EMAIL_URL). Content comes "
        "from a template base (`template` + `context`: <base>.subject.txt, .txt, "
        ".html; try conductor/email/notice) or from `subject` + `text`/`html`. "
        "Attachments are base64, limited in total by "
        "CONDUCTOR_EMAIL_MAX_ATTACHMENT_BYTES. The result records the delivery."
    ),
    sample_payload={
        "to": ["ops@example.com"],
        "template": "conductor/email/notice",
        "context": {
            "title": "Nightly export finished",
            "message": "The export of 1,204 orders is ready.",
            "details": {"rows": 1204, "duration": "42 s"},
            "action_url": "https://conductor.example.com/dashboard/",
        },
    },
    timeout_s=120,
    max_retries=5,
)
def send_email(ctx: JobContext, payload: dict) -> dict:
    check_recipients(payload, settings.CONDUCTOR_EMAIL_MAX_RECIPIENTS)
    check_sender(payload.get("from_email"), settings.CONDUCTOR_EMAIL_FROM_OVERRIDES)
    content = render_content(payload)
    files = decode_attachments(
        payload.get("attachments", []), settings.CONDUCTOR_EMAIL_MAX_ATTACHMENT_BYTES
    )
    message = build_message(payload, content, files, job_id=ctx.job_id)
    ctx.raise_if_cancelled()
    _send(message)
    return delivery_record(message, files)


def check_recipients(payload: dict, limit: int) -> None:
    """At most ``limit`` addresses in to + cc + bcc: one job is not a mailing list."""
    count = sum(len(payload.get(name, [])) for name in ("to", "cc", "bcc"))
    if count > limit:
        raise JobError(
            "VALIDATION_ERROR",
            f"{count} recipients; one job may address at most {limit} "
            "(CONDUCTOR_EMAIL_MAX_RECIPIENTS)",
            retryable=False,
        )


def check_sender(sender: str | None, allowed: list[str]) -> None:
    """A payload's ``from_email`` must be one the operators allow, by address or by
    ``@domain``; without it the message comes from ``DEFAULT_FROM_EMAIL``."""
    if sender is None:
        return
    address = sender.strip().lower()
    domain = "@" + address.rpartition("@")[2]
    if address in allowed or domain in allowed:
        return
    raise JobError(
        "VALIDATION_ERROR",
        f"from_email {sender!r} is not an allowed sender "
        "(CONDUCTOR_EMAIL_FROM_OVERRIDES); leave it out to send from the default",
        retryable=False,
    )


# --- Content --------------------------------------------------------------------------


@dataclass(frozen=True)
class Content:
    subject: str
    text: str
    html: str  # "" for a plain-text message


def render_content(payload: dict) -> Content:
    if "template" in payload:
        return _from_template(
            payload["template"], payload.get("context", {}), payload.get("subject")
        )
    text, markup = payload.get("text", ""), payload.get("html", "")
    return Content(one_line(payload["subject"]), text or text_of(markup), markup)


def _from_template(base: str, context: dict, subject: str | None) -> Content:
    markup = _render(f"{base}.html", context, required=False)
    text = _render(f"{base}.txt", context, required=False)
    if markup is None and text is None:
        raise JobError(
            "TEMPLATE_NOT_FOUND",
            f"no template {base}.txt or {base}.html",
            retryable=False,
        )
    if subject is None:
        subject = _render(f"{base}.subject.txt", context, required=True)
    return Content(one_line(subject), text or text_of(markup or ""), markup or "")


def _render(name: str, context: dict, *, required: bool) -> str | None:
    """Render ``name``; only ``.html`` is auto-escaped (text parts are not HTML)."""
    try:
        template = Engine.get_default().get_template(name)
        return template.render(Context(context, autoescape=name.endswith(".html")))
    except TemplateDoesNotExist as exc:
        if required or str(exc) != name:  # a missing include is always an error
            raise JobError(
                "TEMPLATE_NOT_FOUND", f"no template {exc}", retryable=False
            ) from exc
        return None
    except Exception as exc:  # TemplateSyntaxError, or a filter that raised
        raise JobError(
            "TEMPLATE_ERROR", f"{name}: {type(exc).__name__}: {exc}", retryable=False
        ) from exc


def one_line(text: str) -> str:
    """Headers are one line: a template's trailing newline must not break them."""
    return " ".join(text.split())


_BLOCK_END = re.compile(
    r"<br\s*/?>|</(p|div|h[1-6]|li|tr|table|ul|ol|blockquote|pre)\s*>", re.IGNORECASE
)


def text_of(markup: str) -> str:
    """A readable plain-text part for an HTML-only message: blocks become lines."""
    markup = _BLOCK_END.sub(lambda match: match.group(0) + "\n", markup)
    lines = (line.strip() for line in html.unescape(strip_tags(markup)).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


# --- Attachments ----------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mimetype: str


def decode_attachments(items: Sequence[dict], limit: int) -> list[Attachment]:
    """Decoded attachments, refusing the one that takes the total past ``limit``."""
    files, total = [], 0
    for index, item in enumerate(items):
        name = item["filename"]
        content = _decode(item["content_base64"], f"attachments[{index}] ({name})")
        total += len(content)
        if total > limit:
            raise JobError(
                "VALIDATION_ERROR",
                f"attachments[{index}] ({name}) brings the attachments to "
                f"{total} bytes, over the limit of {limit} bytes",
                retryable=False,
            )
        mimetype = item.get("mimetype") or _guess_type(name)
        files.append(Attachment(name, content, mimetype))
    return files


def _decode(text: str, where: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise JobError(
            "VALIDATION_ERROR",
            f"{where}: content_base64 is not base64",
            retryable=False,
        ) from exc


def _guess_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


# --- The message ----------------------------------------------------------------------


def build_message(
    payload: dict, content: Content, files: list[Attachment], *, job_id: str
) -> EmailMultiAlternatives:
    sender = payload.get("from_email") or settings.DEFAULT_FROM_EMAIL
    message = EmailMultiAlternatives(
        subject=content.subject,
        body=content.text,
        from_email=sender,
        to=payload["to"],
        cc=payload.get("cc", []),
        bcc=payload.get("bcc", []),
        reply_to=payload.get("reply_to", []),
        headers={"Message-ID": message_id(job_id, sender)},
    )
    if content.html:
        message.attach_alternative(content.html, "text/html")
    for file in files:
        message.attach(file.filename, file.content, file.mimetype)
    return message


def message_id(job_id: str, sender: str) -> str:
    """``<conductor.<job id>@<sender's domain>>``: the same for every attempt."""
    domain = sender.rpartition("@")[2].strip(">") or "localhost"
    return f"<conductor.{re.sub(r'[^A-Za-z0-9.-]', '-', job_id)}@{domain}>"


def _send(message: EmailMultiAlternatives) -> None:
    try:
        message.send(fail_silently=False)
    except Exception as exc:
        failure = classify_send_error(exc)
        if failure is None:
            raise
        code, retryable = failure
        raise JobError(
            code, f"{type(exc).__name__}: {exc}", retryable=retryable
        ) from exc


def classify_send_error(exc: Exception) -> tuple[str, bool] | None:
    """``(code, retryable)`` for a failure of the backend, None for a bug of ours."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in exc.recipients.values()]
        return "EMAIL_REJECTED", bool(codes) and all(400 <= c < 500 for c in codes)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "AUTH_ERROR", False
    if isinstance(exc, smtplib.SMTPConnectError):
        return "CONNECTION_ERROR", True
    if isinstance(exc, smtplib.SMTPResponseException):
        temporary = 400 <= exc.smtp_code < 500
        return ("SERVICE_UNAVAILABLE", True) if temporary else ("EMAIL_REJECTED", False)
    if isinstance(exc, TimeoutError):
        return "TIMEOUT", True
    if isinstance(exc, OSError):  # refused, reset, TLS failure, server went away
        return "CONNECTION_ERROR", True
    if isinstance(exc, ValueError):  # Django: a header or address with a line break
        return "VALIDATION_ERROR", False
    return None


def delivery_record(message: EmailMultiAlternatives, files: list[Attachment]) -> dict:
    return {
        "message_id": message.extra_headers["Message-ID"],
        "from": message.from_email,
        "to": list(message.to),
        "cc": list(message.cc),
        "bcc_count": len(message.bcc),
        "subject": message.subject,
        "sent_at": timezone.now().isoformat(),
        "attachments": [
            {"filename": f.filename, "bytes": len(f.content)} for f in files
        ],
        "backend": settings.EMAIL_BACKEND,
    }
