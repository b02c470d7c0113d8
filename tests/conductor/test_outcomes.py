"""What happens after an attempt (pure)."""

from datetime import UTC, datetime, timedelta

import pytest

from conductor.outcomes import Dead, ErrorInfo, RetryAt, Succeeded, decide

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BOOM = ErrorInfo("SERVICE_UNAVAILABLE", "down")


@pytest.mark.parametrize(
    ("error", "attempt", "max_retries", "expected"),
    [
        (None, 1, 3, Succeeded({"ok": True})),  # success on the first attempt
        (None, 4, 3, Succeeded({"ok": True})),  # success on the last attempt
        (BOOM, 1, 3, RetryAt(NOW + timedelta(seconds=1), BOOM)),  # 1 s
        (BOOM, 3, 3, RetryAt(NOW + timedelta(seconds=4), BOOM)),  # 4 s
        (BOOM, 4, 3, Dead(BOOM)),  # 4 attempts = 1 + 3 retries: done
        (BOOM, 1, 0, Dead(BOOM)),  # no retries at all
        (
            ErrorInfo("X", "y", retryable=False),
            1,
            3,
            Dead(ErrorInfo("X", "y", retryable=False)),
        ),
        (BOOM, 20, 30, RetryAt(NOW + timedelta(seconds=300), BOOM)),  # capped at 5 min
    ],
)
def test_decide(error, attempt, max_retries, expected):
    result = {"ok": True}
    assert (
        decide(
            error=error,
            result=result,
            attempt=attempt,
            max_retries=max_retries,
            now=NOW,
        )
        == expected
    )
