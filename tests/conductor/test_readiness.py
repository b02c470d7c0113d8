"""When may a waiting job go? (pure)"""

import pytest

from conductor.readiness import Abort, Ready, Retry, Wait, decide

S, F, D, C, P, R = "succeeded", "failed", "dead", "cancelled", "pending", "running"


@pytest.mark.parametrize(
    ("mode", "on_failure", "states", "retries", "expected"),
    [
        ("all", "abort", {"a": S, "b": S}, 0, Ready()),  # every one succeeded
        ("all", "abort", {"a": S, "b": R}, 0, Wait()),  # one still running
        ("all", "abort", {"a": F, "b": R}, 0, Abort(("a",))),  # abort at once
        ("all", "abort", {"a": D, "b": C}, 0, Abort(("a", "b"))),  # dead, cancelled
        ("all", "continue", {"a": F, "b": P}, 0, Wait()),  # continue waits for all
        ("all", "continue", {"a": F, "b": S}, 0, Ready()),  # then goes
        ("all", "retry", {"a": F, "b": S}, 0, Retry(("a",))),  # retry the failed one
        ("all", "retry", {"a": F, "b": S}, 3, Abort(("a",))),  # retries used up
        ("any", "abort", {"a": F, "b": S}, 0, Ready()),  # one success is enough
        ("any", "abort", {"a": F, "b": R}, 0, Wait()),  # another may still succeed
        ("any", "abort", {"a": F, "b": D}, 0, Abort(("a", "b"))),  # none succeeded
        ("any", "continue", {"a": F, "b": D}, 0, Ready()),  # continue anyway
        ("any", "retry", {"a": F, "b": C}, 1, Retry(("a", "b"))),  # retry them
        ("all", "abort", {}, 0, Ready()),  # no dependencies
    ],
)
def test_decide(mode, on_failure, states, retries, expected):
    assert (
        decide(mode=mode, on_failure=on_failure, states=states, retries_used=retries)
        == expected
    )
