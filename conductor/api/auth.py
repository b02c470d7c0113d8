"""Who is calling, and may they? API keys and sessions; scopes read ⊂ write ⊂ admin.

API keys (``Authorization: Api-Key <prefix>.<secret>``) are hashed at rest and carry
their scopes. Browser sessions map Django groups to scopes: ``viewer`` → read,
``operator`` → write, ``admin`` (or a superuser) → admin. Each view declares the scope
it needs in ``required_scope``; by default reads need ``read`` and writes ``write``.
"""

from dataclasses import dataclass, field

from rest_framework import authentication, exceptions, permissions

from conductor.models import ApiKey
from conductor.roles import implied, user_scopes


@dataclass
class ApiKeyPrincipal:
    """The caller behind an API key that has no owning user."""

    key_id: str
    name: str
    scopes: list[str] = field(default_factory=list)
    tier: str = "standard"
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    pk: None = None

    @property
    def username(self) -> str:
        return f"api-key:{self.name}"

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm, obj=None) -> bool:
        return False


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        key = key.strip()
        if not key:
            raise exceptions.AuthenticationFailed("the Api-Key header has no key")
        try:
            api_key = ApiKey.objects.get_from_key(key)  # revoked keys are not found
        except ApiKey.DoesNotExist:
            api_key = None
        owner = api_key.owner if api_key is not None else None
        if (
            api_key is None
            or api_key.has_expired
            or (owner is not None and not owner.is_active)
        ):
            # One answer for every case: a caller learns nothing about other keys.
            raise exceptions.AuthenticationFailed("unknown, revoked or expired API key")
        principal = ApiKeyPrincipal(
            key_id=api_key.id,
            name=api_key.name,
            scopes=list(api_key.scopes),
            tier=api_key.tier,
        )
        return owner or principal, api_key

    def authenticate_header(self, request):
        return self.keyword


class SessionAuthentication(authentication.SessionAuthentication):
    """Django sessions, CSRF enforced on writes (DRF's), for the browser."""


def scopes_of(request) -> set[str]:
    if isinstance(request.auth, ApiKey):
        return implied(request.auth.scopes)
    return user_scopes(request.user)


def actor_of(request) -> str:
    user = getattr(request, "user", None)
    if isinstance(request.auth, ApiKey):
        return f"api-key:{request.auth.name}"
    if user is not None and user.is_authenticated:
        return user.get_username()
    return "anonymous"


class HasScope(permissions.BasePermission):
    message = "this operation needs the {scope} scope"

    def has_permission(self, request, view) -> bool:
        needed = getattr(view, "required_scope", None) or (
            "read" if request.method in permissions.SAFE_METHODS else "write"
        )
        if needed == "public":
            return True
        if not request.user or not request.user.is_authenticated:
            return False
        if needed in scopes_of(request):
            return True
        raise exceptions.PermissionDenied(self.message.format(scope=needed))


class AdminDeletes:
    """DELETE needs the admin scope; other methods the default (read or write)."""

    @property
    def required_scope(self) -> str | None:
        method = getattr(getattr(self, "request", None), "method", None)
        return "admin" if method == "DELETE" else None
