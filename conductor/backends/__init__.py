"""Database backends: the statements that differ between PostgreSQL and SQLite.

One module per database (``postgresql``, ``sqlite``), each with the same functions;
``current()`` picks one by the connection's vendor — the only place that asks. The
PostgreSQL module keeps its SQL as named statements (module constants built from the
models' ``_meta.db_table``) and maps rows by column name; the SQLite module does the
same work with the ORM inside its single-writer (IMMEDIATE) transactions.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from django.db import connection

from conductor.backends import postgresql, sqlite
from conductor.backends.rows import ClaimRequest, CompleteRow, EventRow

__all__ = ["Backend", "ClaimRequest", "CompleteRow", "EventRow", "current"]


class Backend(Protocol):
    """What each database module provides."""

    def jobs_insert(
        self, rows: list[dict], *, now: datetime, actor: str, trace_id: str
    ) -> None: ...

    def jobs_claim(self, claim: ClaimRequest) -> list[dict[str, Any]]: ...

    def jobs_complete(
        self, rows: Sequence[CompleteRow], *, source: str, now: datetime
    ) -> dict[str, bool]: ...

    def events_append(self, rows: Sequence[EventRow], *, at: datetime) -> int: ...

    def events_after(
        self, *, after: int, types: Sequence[str], limit: int
    ) -> list[Any]: ...

    def commit_lazily(self) -> None:
        """Inside a transaction: its commit need not wait for the disk (a server
        crash may lose it, a worker's crash cannot). For marks that are advice."""


def current() -> Backend:
    """The backend of the default database connection."""
    return postgresql if connection.vendor == "postgresql" else sqlite
