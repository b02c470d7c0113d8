"""Job type email.send: schema, templates, attachments, delivery record, SMTP failures.

Messages go to Django's locmem backend (``mailoutbox``), or to a fake SMTP server on
loopback for the failure cases.
"""

import base64
import datetime
import smtplib
import socketserver
import threading

import pytest

from conductor import registry
from conductor.engine.context import JobContext, JobError
from conductor.jobtypes import email
from tests.conductor.egress.loopback import closed_port

NOTICE = "conductor/email/notice"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def send(payload: dict, job_id: str = "job-1", attempt: int = 1) -> dict:
    spec = registry.get("email.send")
    assert registry.validate(spec, payload) == [], "the test payload must be valid"
    ctx = JobContext(job_id=job_id, job_type="email.send", attempt=attempt)
    return spec.handler(ctx, payload)


def fails(payload: dict) -> JobError:
    with pytest.raises(JobError) as caught:
        send(payload)
    return caught.value


@pytest.fixture
def templates(settings, tmp_path):
    """A template directory of this test's own, searched before the project's."""
    engine = dict(settings.TEMPLATES[0])
    engine["DIRS"] = [tmp_path, *engine["DIRS"]]
    settings.TEMPLATES = [engine]

    def write(name: str, text: str) -> None:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    return write


# --- The built-in notice template --------------------------------------------------------


def test_notice_renders_text_and_escaped_html(mailoutbox):
    send(
        {
            "to": ["ops@example.com"],
            "template": NOTICE,
            "context": {
                "title": "Disk <b>full</b> & more",
                "message": "Run <script>alert(1)</script> now",
                "details": {"host": "<db1>"},
                "action_url": "https://x.test/?a=1&b=2",
                "action_label": "Open the dashboard",
            },
        }
    )
    [message] = mailoutbox
    assert message.subject == "Disk <b>full</b> & more"  # a header, not HTML
    assert "Run <script>alert(1)</script> now" in message.body  # plain text as is
    assert "host: <db1>" in message.body
    assert "Open the dashboard: https://x.test/?a=1&b=2" in message.body
    [(markup, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "Run &lt;script&gt;alert(1)&lt;/script&gt; now" in markup
    assert "<script>" not in markup
    assert "Disk &lt;b&gt;full&lt;/b&gt; &amp; more" in markup
    assert "&lt;db1&gt;" in markup
    assert 'href="https://x.test/?a=1&amp;b=2"' in markup


def test_notice_links_only_http_urls(mailoutbox):
    send(
        {
            "to": ["ops@example.com"],
            "template": NOTICE,
            "context": {"title": "t", "action_url": "javascript:alert(1)"},
        }
    )
    [(markup, _mimetype)] = mailoutbox[0].alternatives
    assert "javascript:" not in markup


def test_subject_in_the_payload_overrides_the_template(mailoutbox):
    send(
        {
            "to": ["a@example.com"],
            "template": NOTICE,
            "subject": "Custom",
            "context": {"title": "T"},
        }
    )
    assert mailoutbox[0].subject == "Custom"


def test_sample_payload_is_valid_and_sends(mailoutbox):
    spec = registry.get("email.send")
    assert registry.validate(spec, dict(spec.sample_payload)) == []
    send(dict(spec.sample_payload))
    assert mailoutbox[0].subject == "Nightly export finished"


# --- Templates of the application ---------------------------------------------------------


def test_text_templates_are_not_html_escaped(templates, mailoutbox):
    templates("app/plain.subject.txt", "Re: {{ v }}\n")
    templates("app/plain.txt", "Value: {{ v }}\n")
    send(
        {"to": ["a@example.com"], "template": "app/plain", "context": {"v": "a & <b>"}}
    )
    [message] = mailoutbox
    assert message.subject == "Re: a & <b>"  # one line: the newline is gone
    assert message.body == "Value: a & <b>\n"
    assert message.alternatives == []  # no .html: a plain-text message


def test_html_only_template_gets_a_derived_text_part(templates, mailoutbox):
    templates("app/rich.subject.txt", "Hello")
    templates("app/rich.html", "<h1>Hi {{ name }}</h1><p>Fish &amp; chips</p>")
    send({"to": ["a@example.com"], "template": "app/rich", "context": {"name": "Ann"}})
    [message] = mailoutbox
    assert "Hi Ann" in message.body
    assert "Fish & chips" in message.body
    assert "<h1>" not in message.body
    assert message.alternatives[0][0] == "<h1>Hi Ann</h1><p>Fish &amp; chips</p>"


GONE = "{% include 'app/gone.txt' %}"
MISSING, BROKEN = "TEMPLATE_NOT_FOUND", "TEMPLATE_ERROR"


@pytest.mark.parametrize(
    ("files", "subject", "code", "named"),
    [
        ({}, None, MISSING, "app/x.txt or app/x.html"),  # nothing there
        ({"app/x.txt": "x"}, None, MISSING, "app/x.subject.txt"),  # no subject part
        ({"app/x.txt": GONE}, "s", MISSING, "app/gone.txt"),  # a missing include
        ({"app/x.txt": "{% if %}"}, "s", BROKEN, "app/x.txt"),  # syntax error
        ({"app/x.html": "{% for %}"}, "s", BROKEN, "app/x.html"),  # ... in the HTML
    ],
)
def test_template_failures(templates, mailoutbox, files, subject, code, named):
    for name, text in files.items():
        templates(name, text)
    payload = {"to": ["a@example.com"], "template": "app/x"}
    error = fails(payload if subject is None else {**payload, "subject": subject})
    assert (error.code, error.retryable) == (code, False)
    assert named in error.message
    assert mailoutbox == []


# --- Direct bodies ---------------------------------------------------------------------


def test_text_body(mailoutbox):
    send({"to": ["a@example.com"], "subject": "Hi", "text": "Plain <b> & text"})
    [message] = mailoutbox
    assert (message.subject, message.body) == ("Hi", "Plain <b> & text")
    assert message.alternatives == []


def test_html_body_gets_a_text_alternative(mailoutbox):
    send({"to": ["a@example.com"], "subject": "Hi", "html": "<p>A &amp; B</p><p>C</p>"})
    [message] = mailoutbox
    assert message.body == "A & B\nC\n"
    assert message.alternatives[0] == ("<p>A &amp; B</p><p>C</p>", "text/html")


def test_text_and_html_bodies(mailoutbox):
    send({"to": ["a@example.com"], "subject": "Hi", "text": "T", "html": "<b>H</b>"})
    [message] = mailoutbox
    assert message.body == "T"
    assert message.alternatives[0] == ("<b>H</b>", "text/html")


# --- Attachments -----------------------------------------------------------------------


def test_attachments_are_decoded_and_attached(mailoutbox):
    pdf = b"%PDF-1.4\x00\xff binary"
    result = send(
        {
            "to": ["a@example.com"],
            "subject": "Files",
            "text": "see attached",
            "attachments": [
                {"filename": "report.pdf", "content_base64": b64(pdf)},
                {
                    "filename": "data.bin",
                    "content_base64": b64(b"\x01\x02"),
                    "mimetype": "application/x-custom",
                },
            ],
        }
    )
    [message] = mailoutbox
    assert [tuple(a) for a in message.attachments] == [
        ("report.pdf", pdf, "application/pdf"),  # type guessed from the name
        ("data.bin", b"\x01\x02", "application/x-custom"),  # type given
    ]
    assert result["attachments"] == [
        {"filename": "report.pdf", "bytes": len(pdf)},
        {"filename": "data.bin", "bytes": 2},
    ]


def test_attachment_past_the_size_limit_is_named(settings, mailoutbox):
    settings.CONDUCTOR_EMAIL_MAX_ATTACHMENT_BYTES = 10
    error = fails(
        {
            "to": ["a@example.com"],
            "subject": "s",
            "text": "t",
            "attachments": [
                {"filename": "a.bin", "content_base64": b64(b"123456")},
                {"filename": "b.bin", "content_base64": b64(b"123456")},
            ],
        }
    )
    assert (error.code, error.retryable) == ("VALIDATION_ERROR", False)
    assert "attachments[1] (b.bin)" in error.message
    assert "12 bytes" in error.message
    assert "10 bytes" in error.message
    assert mailoutbox == []


def test_attachment_at_the_limit_is_sent(settings, mailoutbox):
    settings.CONDUCTOR_EMAIL_MAX_ATTACHMENT_BYTES = 6
    attachment = {"filename": "a.bin", "content_base64": b64(b"123456")}
    send(
        {
            "to": ["a@example.com"],
            "subject": "s",
            "text": "t",
            "attachments": [attachment],
        }
    )
    assert len(mailoutbox) == 1


def test_attachment_that_is_not_base64_is_named(mailoutbox):
    error = fails(
        {
            "to": ["a@example.com"],
            "subject": "s",
            "text": "t",
            "attachments": [{"filename": "x.txt", "content_base64": "not base64!"}],
        }
    )
    assert (error.code, error.retryable) == ("VALIDATION_ERROR", False)
    assert "attachments[0] (x.txt)" in error.message


def test_wrapped_base64_is_accepted(mailoutbox):
    wrapped = b64(b"x" * 100)
    wrapped = "\n".join(wrapped[i : i + 76] for i in range(0, len(wrapped), 76))
    attachment = {"filename": "x.bin", "content_base64": wrapped}
    send(
        {
            "to": ["a@example.com"],
            "subject": "s",
            "text": "t",
            "attachments": [attachment],
        }
    )
    assert mailoutbox[0].attachments[0][1] == b"x" * 100


# --- The delivery record ---------------------------------------------------------------


def test_delivery_is_recorded(settings, mailoutbox):
    settings.DEFAULT_FROM_EMAIL = "robot@conductor.test"
    result = send(
        {
            "to": ["a@example.com", "b@example.com"],
            "cc": ["c@example.com"],
            "bcc": ["d@example.com", "e@example.com"],
            "reply_to": ["help@example.com"],
            "subject": "Report",
            "text": "t",
        },
        job_id="0b4f5a0e-1c1d-4c55-9d55-3c1f2d9a7e10",
    )
    [message] = mailoutbox
    assert result["to"] == ["a@example.com", "b@example.com"]
    assert result["cc"] == ["c@example.com"]
    assert result["bcc_count"] == 2
    assert result["subject"] == "Report"
    assert result["from"] == "robot@conductor.test"
    assert result["attachments"] == []
    assert result["backend"] == "django.core.mail.backends.locmem.EmailBackend"
    sent_at = datetime.datetime.fromisoformat(result["sent_at"])
    assert sent_at.tzinfo is not None
    assert result["message_id"] == (
        "<conductor.0b4f5a0e-1c1d-4c55-9d55-3c1f2d9a7e10@conductor.test>"
    )
    mime = message.message()
    assert mime["Message-ID"] == result["message_id"]
    assert mime["Reply-To"] == "help@example.com"
    assert mime["Bcc"] is None  # blind copies stay blind
    assert set(message.recipients()) == {f"{c}@example.com" for c in "abcde"}


def test_message_id_is_the_same_for_every_attempt(mailoutbox):
    payload = {"to": ["a@example.com"], "subject": "s", "text": "t"}
    first = send(payload, job_id="j1", attempt=1)["message_id"]
    second = send(payload, job_id="j1", attempt=2)["message_id"]
    other = send(payload, job_id="j2")["message_id"]
    assert first == second != other


# --- Schema ----------------------------------------------------------------------------

TO = ["a@example.com"]
D = {"to": TO, "subject": "s", "text": "t"}  # a valid direct message
FILENAME = "payload.attachments[0].filename"
SLASHED = {"filename": "a/b", "content_base64": ""}


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"subject": "s", "text": "t"}, ["payload.to"]),  # to is required
        ({**D, "to": []}, ["payload.to"]),  # at least one recipient
        ({**D, "to": ["x@y.z"] * 51}, ["payload.to"]),  # at most 50
        ({**D, "to": ["not-an-address"]}, ["payload.to[0]"]),  # no @
        ({**D, "to": ["a@b.c\n"]}, ["payload.to[0]"]),  # header injection
        ({**D, "cc": ["x"]}, ["payload.cc[0]"]),  # cc is checked too
        ({**D, "bcc": "a@b.c"}, ["payload.bcc"]),  # a list, not a string
        ({"to": TO, "text": "t"}, ["payload.subject"]),  # no template: subject needed
        ({"to": TO, "subject": "s"}, ["payload"]),  # no template: a body needed
        ({"to": TO, "template": NOTICE, "text": "t"}, ["payload.text"]),  # not both
        ({**D, "context": {}}, ["payload"]),  # context needs a template
        ({"to": TO, "template": "app/../secret"}, ["payload.template"]),  # traversal
        ({**D, "attachments": [{"content_base64": ""}]}, [FILENAME]),  # name needed
        ({**D, "attachments": [SLASHED]}, [FILENAME]),  # no path in a filename
        ({**D, "extra": 1}, ["payload"]),  # unknown field
    ],
)
def test_bad_payloads_name_the_path(payload, fields):
    errors = registry.validate(registry.get("email.send"), payload)
    assert [e.field for e in errors] == fields


# --- SMTP failures ---------------------------------------------------------------------


def _refused(code: int) -> smtplib.SMTPRecipientsRefused:
    return smtplib.SMTPRecipientsRefused({"a@x.test": (code, b"no")})


REJECTED, CONNECTION = ("EMAIL_REJECTED", False), ("CONNECTION_ERROR", True)
TEMPORARY = ("SERVICE_UNAVAILABLE", True)


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        (_refused(550), REJECTED),  # no such user
        (_refused(450), ("EMAIL_REJECTED", True)),  # mailbox busy, greylisting: later
        (smtplib.SMTPSenderRefused(553, b"no", "f@x"), REJECTED),  # sender refused
        (smtplib.SMTPDataError(554, b"spam"), REJECTED),  # message refused
        (smtplib.SMTPDataError(451, b"later"), TEMPORARY),  # try again later
        (smtplib.SMTPAuthenticationError(535, b"bad"), ("AUTH_ERROR", False)),  # login
        (smtplib.SMTPConnectError(421, b"busy"), CONNECTION),  # no greeting
        (smtplib.SMTPServerDisconnected("gone"), CONNECTION),  # dropped
        (ConnectionRefusedError(111, "refused"), CONNECTION),  # nobody listening
        (TimeoutError("timed out"), ("TIMEOUT", True)),  # socket timeout
        (ValueError("newline"), ("VALIDATION_ERROR", False)),  # Django's header guard
        (KeyError("bug"), None),  # our own bug: not classified, raised as is
    ],
)
def test_classify_send_error(exc, failure):
    assert email.classify_send_error(exc) == failure


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP to reach RCPT, which gets the server's ``rcpt_reply``."""

    def handle(self):
        self.reply(b"220 fake.test ESMTP")
        replies = {
            b"EHLO": b"250 fake.test",
            b"HELO": b"250 fake.test",
            b"MAIL": b"250 ok",
            b"RCPT": self.server.rcpt_reply,
            b"RSET": b"250 ok",
            b"NOOP": b"250 ok",
        }
        for line in self.rfile:
            verb = line[:4].upper()
            if verb == b"QUIT":
                self.reply(b"221 bye")
                return
            self.reply(replies.get(verb, b"502 not implemented"))

    def reply(self, text: bytes) -> None:
        self.wfile.write(text + b"\r\n")


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False


@pytest.fixture
def smtp(settings):
    """Points Django's SMTP backend at a fake server; set ``rcpt_reply`` per test."""
    server = _SmtpServer(("127.0.0.1", 0), _SmtpHandler)
    server.rcpt_reply = b"550 5.1.1 no such user"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = server.server_address
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


PLAIN = {"to": ["nobody@fake.test"], "subject": "s", "text": "t"}


def test_smtp_recipient_refused_is_rejected_for_good(smtp):
    error = fails(PLAIN)
    assert (error.code, error.retryable) == ("EMAIL_REJECTED", False)
    assert "nobody@fake.test" in error.message


def test_smtp_recipient_refused_for_now_is_retried(smtp):
    smtp.rcpt_reply = b"450 4.2.1 mailbox busy, try later"
    error = fails(PLAIN)
    assert (error.code, error.retryable) == ("EMAIL_REJECTED", True)


def test_smtp_server_down_is_a_connection_error(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port()
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    error = fails(PLAIN)
    assert (error.code, error.retryable) == ("CONNECTION_ERROR", True)


BODY = {"subject": "Hi", "text": "Hello"}


def test_the_sender_is_the_default_unless_the_operators_allow_the_override(
    mailoutbox, settings
):
    settings.DEFAULT_FROM_EMAIL = "conductor@ops.example"
    settings.CONDUCTOR_EMAIL_FROM_OVERRIDES = []
    send({"to": ["a@x.test"], **BODY})
    assert mailoutbox[-1].from_email == "conductor@ops.example"
    error = fails({"to": ["a@x.test"], "from_email": "ceo@bank.example", **BODY})
    assert (error.code, error.retryable) == ("VALIDATION_ERROR", False)
    assert "from_email" in error.message and len(mailoutbox) == 1
    settings.CONDUCTOR_EMAIL_FROM_OVERRIDES = ["billing@shop.example", "@news.example"]
    send({"to": ["a@x.test"], "from_email": "Billing@Shop.example", **BODY})
    send({"to": ["a@x.test"], "from_email": "weekly@news.example", **BODY})
    assert [m.from_email for m in mailoutbox[1:]] == [
        "Billing@Shop.example", "weekly@news.example",
    ]  # fmt: skip


def test_recipients_per_job_are_capped(mailoutbox, settings):
    settings.CONDUCTOR_EMAIL_MAX_RECIPIENTS = 3
    many = {"to": ["a@x.test", "b@x.test"], "cc": ["c@x.test"], "bcc": ["d@x.test"]}
    error = fails({**many, **BODY})
    assert (error.code, error.retryable) == ("VALIDATION_ERROR", False)
    assert "4 recipients" in error.message and mailoutbox == []
    send({"to": ["a@x.test", "b@x.test"], "cc": ["c@x.test"], **BODY})
    assert len(mailoutbox) == 1
