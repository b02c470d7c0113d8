"""Job types of the core app, found by ``autodiscover_modules("jobs")`` at start."""

from conductor.jobtypes import (
    demo,  # noqa: F401 - registers demo.noop/sleep/flaky
    email,  # noqa: F401 - registers email.send
    http,  # noqa: F401 - registers http.request
)
