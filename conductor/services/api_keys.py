"""API keys: made here, hashed at rest; the plain key is returned once, never kept."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from conductor.errors import FieldError, ValidationFailed
from conductor.journal.catalogue import API_KEY_CREATED, API_KEY_REVOKED
from conductor.journal.writer import event_record
from conductor.models import ApiKey


def _check(*, name: str, scopes: list[str], tier: str) -> None:
    errors = []
    if not name.strip():
        errors.append(FieldError("name", "must not be blank", "blank"))
    bad = [s for s in scopes if s not in ApiKey.SCOPES]
    if bad or not scopes:
        errors.append(
            FieldError(
                "scopes",
                f"choose from {', '.join(ApiKey.SCOPES)}; got {scopes}",
                "invalid_choice",
            )
        )
    if tier not in ApiKey.Tier.values:
        errors.append(
            FieldError(
                "tier", f"choose from {', '.join(ApiKey.Tier.values)}", "invalid_choice"
            )
        )
    if errors:
        raise ValidationFailed(errors)


@transaction.atomic
def api_key_create(
    *,
    name: str,
    scopes: list[str],
    tier: str = "standard",
    owner=None,
    expires_at: datetime | None = None,
    actor: str,
) -> tuple[ApiKey, str]:
    """Create a key; return the row and the plain key (shown to the caller once).
    After ``expires_at`` (if given) the key is refused."""
    _check(name=name, scopes=scopes, tier=tier)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed([FieldError("expires_at", "must be in the future")])
    row, key = ApiKey.objects.create_key(
        name=name, scopes=scopes, tier=tier, owner=owner, expiry_date=expires_at
    )
    expires = expires_at.isoformat() if expires_at else None
    event_record(
        type=API_KEY_CREATED,
        subject=("apikey", row.prefix),
        actor=actor,
        data={"name": name, "prefix": row.prefix, "scopes": scopes, "tier": tier,
              "expires_at": expires},
    )  # fmt: skip
    return row, key


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: str) -> ApiKey:
    key.revoked = True
    key.save(update_fields=["revoked"])
    event_record(
        type=API_KEY_REVOKED,
        subject=("apikey", key.prefix),
        actor=actor,
        data={"name": key.name, "prefix": key.prefix},
    )
    return key
