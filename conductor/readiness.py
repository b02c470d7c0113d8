"""When may a waiting job go? Pure: decides from its dependencies' states.

| mode | dependencies                         | on failure | decision              |
|------|--------------------------------------|------------|-----------------------|
| all  | every one succeeded                  | any        | Ready                 |
| all  | one ended badly, others any          | abort      | Abort                 |
| all  | one ended badly                      | continue   | Wait until all final, |
|      |                                      |            | then Ready            |
| all  | one ended badly, retries left        | retry      | Retry(those)          |
| all  | one ended badly, no retries left     | retry      | Abort                 |
| any  | one succeeded                        | any        | Ready                 |
| any  | all final, none succeeded            | abort      | Abort                 |
| any  | all final, none succeeded            | continue   | Ready                 |
| any  | all final, none succeeded, retries   | retry      | Retry(the failed)     |
| —    | otherwise                            | —          | Wait                  |

"Ended badly" means a final state other than ``succeeded`` (failed, dead, cancelled).
"""

from collections.abc import Mapping
from dataclasses import dataclass

from conductor.states import FINAL, JobState

#: How many times ``retry`` re-queues a dependency before the dependent aborts.
MAX_DEPENDENCY_RETRIES = 3


@dataclass(frozen=True)
class Wait:
    pass


@dataclass(frozen=True)
class Ready:
    pass


@dataclass(frozen=True)
class Abort:
    failed: tuple[str, ...]


@dataclass(frozen=True)
class Retry:
    dependencies: tuple[str, ...]


Decision = Wait | Ready | Abort | Retry


def decide(
    *, mode: str, on_failure: str, states: Mapping[str, str], retries_used: int
) -> Decision:
    """``states`` maps each dependency's id to its state."""
    succeeded = [d for d, s in states.items() if s == JobState.SUCCEEDED]
    bad = tuple(d for d, s in states.items() if s in FINAL and s != JobState.SUCCEEDED)
    all_final = all(s in FINAL for s in states.values())
    if mode == "any":
        if succeeded or not states:
            return Ready()
        return _on_failure(on_failure, bad, retries_used) if all_final else Wait()
    if len(succeeded) == len(states):
        return Ready()
    if not bad:
        return Wait()
    if on_failure == "continue":
        return Ready() if all_final else Wait()
    return _on_failure(on_failure, bad, retries_used)


def _on_failure(on_failure: str, bad: tuple[str, ...], retries_used: int) -> Decision:
    if on_failure == "continue":
        return Ready()
    if on_failure == "retry" and retries_used < MAX_DEPENDENCY_RETRIES:
        return Retry(bad)
    return Abort(bad)
