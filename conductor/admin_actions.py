"""Admin actions: run one service call per selected row and say what happened."""

from collections.abc import Callable, Iterable

from django.contrib import messages

from conductor.errors import DomainError


def for_each_selected(
    request, rows: Iterable, action: Callable, *, verb: str, noun: str
) -> None:
    """``action(row)`` for every row; refusals (domain errors) become warnings."""
    done, refused = 0, []
    for row in rows:
        try:
            action(row)
            done += 1
        except DomainError as exc:
            refused.append(f"{row}: {exc.detail}")
    if done:
        messages.success(request, f"{verb} {done} {noun}.")
    for line in refused[:10]:
        messages.warning(request, line)
