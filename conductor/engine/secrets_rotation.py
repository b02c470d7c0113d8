"""Re-sealing every stored secret with the first key (``manage.py secrets_rotate``).

Keys rotate in three steps (``conductor.secrets``): put the new key first in
``CONDUCTOR_SECRETS_KEYS``, run this, then remove the old key. Every table that keeps
payloads is walked in batches of ``BATCH`` rows, each batch one short transaction
holding its rows' locks; a row whose values no configured key opens is left as it is
and counted, so a run never half-destroys data.
"""

from django.db import transaction
from django.db.models import Model, Q, QuerySet, TextField
from django.db.models.functions import Cast

from conductor import secrets
from conductor.journal.catalogue import ENGINE_SECRETS_ROTATED
from conductor.journal.writer import event_record
from conductor.models import Job, Workflow, WorkflowRun
from recovery.models import DeadLetter, Resubmission

BATCH = 500

#: (count name, model, fields that may hold sealed values)
TABLES: tuple[tuple[str, type[Model], tuple[str, ...]], ...] = (
    ("jobs", Job, ("payload",)),
    ("dead_letters", DeadLetter, ("snapshot",)),
    ("resubmissions", Resubmission, ("original_payload", "modified_payload")),
    ("workflows", Workflow, ("definition",)),
    ("workflows", WorkflowRun, ("definition",)),
)


def secrets_rotate(*, actor: str) -> dict[str, int]:
    """Re-seal every sealed value; rows re-sealed per kind, and ``unreadable``: rows
    holding a value no configured key opens (left untouched)."""
    counts = dict.fromkeys([name for name, _, _ in TABLES], 0) | {"unreadable": 0}
    for name, model, fields in TABLES:
        done, unreadable = _table(model, fields)
        counts[name] += done
        counts["unreadable"] += unreadable
    with transaction.atomic():
        event_record(
            type=ENGINE_SECRETS_ROTATED, subject=("engine", "secrets"), actor=actor,
            data={name: counts[name] for name in ENGINE_SECRETS_ROTATED.fields},
        )  # fmt: skip
    return counts


def _sealed_rows(model: type[Model], fields: tuple[str, ...]) -> QuerySet:
    """Rows with ``$sealed`` somewhere in one of ``fields`` (as text: any database)."""
    marker = f'"{secrets.SEALED}"'
    texts = {f"{field}_text": Cast(field, TextField()) for field in fields}
    holds = Q()
    for name in texts:
        holds |= Q(**{f"{name}__contains": marker})
    return model.objects.annotate(**texts).filter(holds)


def _table(model: type[Model], fields: tuple[str, ...]) -> tuple[int, int]:
    done = unreadable = 0
    after = None
    while True:
        rows = _sealed_rows(model, fields).order_by("pk")
        if after is not None:
            rows = rows.filter(pk__gt=after)
        ids = list(rows.values_list("pk", flat=True)[:BATCH])
        if not ids:
            return done, unreadable
        with transaction.atomic():
            for row in model.objects.select_for_update().filter(pk__in=ids):
                try:
                    for field in fields:
                        setattr(row, field, secrets.rotated(getattr(row, field)))
                except secrets.SecretUnreadable:
                    unreadable += 1
                    continue
                row.save(update_fields=list(fields))
                done += 1
        after = ids[-1]
