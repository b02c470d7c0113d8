"""Which JSON values Conductor can store: pure checks shared by the API and the engine.

PostgreSQL's ``jsonb`` refuses ``\\u0000`` and lone UTF-16 surrogates, and JSON itself
has no NaN or infinity; a value holding any of them would fail deep inside a write.
``problems`` finds them up front so the caller can answer with a field-named 4xx.
"""

import math
from typing import Any

from conductor.errors import FieldError


def problems(
    value: Any, *, path: str = "body", max_depth: int = 64
) -> list[FieldError]:
    found: list[FieldError] = []
    _walk(value, path, 0, max_depth, found)
    return found


def _walk(value: Any, path: str, depth: int, max_depth: int, found: list) -> None:
    if len(found) >= 20:
        return
    if depth > max_depth:
        found.append(
            FieldError(path, f"nested deeper than {max_depth} levels", "depth")
        )
        return
    if isinstance(value, str):
        _check_text(value, path, found)
    elif isinstance(value, float):
        if not math.isfinite(value):
            found.append(FieldError(path, "number out of range", "out_of_range"))
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{_printable(str(key))}"
            _check_text(key, child, found)
            _walk(item, child, depth + 1, max_depth, found)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", depth + 1, max_depth, found)


def _printable(key: str) -> str:
    """A key as it can appear in an error message (itself stored and rendered)."""
    key = key[:64].replace("\x00", "\\u0000")
    return key.encode("utf-8", "backslashreplace").decode("utf-8")


def _check_text(text: str, path: str, found: list) -> None:
    if "\x00" in text:
        found.append(FieldError(path, "text contains a NUL character", "nul_character"))
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        found.append(
            FieldError(path, "text contains a lone surrogate", "invalid_unicode")
        )
