"""Roles (SPEC §6): Django groups ``viewer``, ``operator`` and ``admin``, and the API
scope each stands for — read ⊂ write ⊂ admin. A superuser is an admin.

The groups and the permissions they carry are made by migrations (0002, 0012); the
API, the admin's actions and the dashboard read them through here.
"""

SCOPE_ORDER = ("read", "write", "admin")
ROLE_SCOPES = {"viewer": "read", "operator": "write", "admin": "admin"}


def implied(scopes) -> set[str]:
    """Scopes with what they imply: admin ⊇ write ⊇ read."""
    rank = max((SCOPE_ORDER.index(s) for s in scopes if s in SCOPE_ORDER), default=-1)
    return set(SCOPE_ORDER[: rank + 1])


def user_scopes(user) -> set[str]:
    """What a signed-in user may do, by their roles (nothing for anyone else)."""
    if not user or not user.is_authenticated or not user.is_active:
        return set()
    if user.is_superuser:
        return implied(["admin"])
    groups = user.groups.values_list("name", flat=True)
    return implied([ROLE_SCOPES[g] for g in groups if g in ROLE_SCOPES])
