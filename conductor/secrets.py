"""Secret values at rest: sealed with MultiFernet, revealed only to the handler, shown
masked everywhere else.

A payload value its job type marks secret (``conductor.secret_fields``) is stored as
``{"$sealed": "<Fernet token>"}``; the API, the admin, dead-letter snapshots and logs
see ``MASK`` instead; the engine reveals the value just before the handler runs.

Keys come from ``CONDUCTOR_SECRETS_KEYS`` (a comma list of Fernet keys): the first
seals, every one of them opens, so a key is rotated by putting the new one first,
running ``manage.py secrets_rotate`` (which re-seals every stored value with it), then
removing the old one. Without the variable a key is derived from ``SECRET_KEY`` —
fine for development; a deploy check asks for real keys in production.
"""

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from conductor import registry
from conductor.secret_fields import replaced, secret_paths

SEALED = "$sealed"
MASK = "********"
#: Shorter secret values are not scrubbed from text (they would mask ordinary words).
MIN_SCRUBBED = 4


class SecretUnreadable(Exception):
    """A sealed value no configured key opens (a key was removed too early)."""


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED}


def seal(payload: Any, schema: Mapping[str, Any]) -> Any:
    """``payload`` with its secret values sealed (those sealed already stay so)."""
    paths = [p for p in secret_paths(payload, schema) if not is_sealed(_at(payload, p))]
    return replaced(payload, paths, _seal_value)


def reveal(payload: Any, schema: Mapping[str, Any]) -> Any:
    """``payload`` with its sealed values opened: for the handler only."""
    paths = [p for p in secret_paths(payload, schema) if is_sealed(_at(payload, p))]
    return replaced(payload, paths, _open_value)


def masked(payload: Any, schema: Mapping[str, Any]) -> Any:
    """``payload`` as people may see it: every secret value (sealed or not) masked."""
    return replaced(payload, secret_paths(payload, schema), lambda _value: MASK)


def shown(payload: Any, type_name: str) -> Any:
    """``payload`` of a job of ``type_name`` as the API, the admin and the dashboard
    show it: secret values masked, and any sealed value masked whatever the schema
    says now (a type whose schema changed, or is no longer registered)."""
    try:
        spec = registry.get(type_name)
    except registry.UnknownJobType:
        spec = None
    if spec is not None and spec.has_secrets:
        payload = masked(payload, spec.schema)
    return _each_sealed(payload, lambda _sealed: MASK)


def _each_sealed(value: Any, change: Callable[[dict], Any]) -> Any:
    """``value`` with every sealed value in it passed through ``change``."""
    if is_sealed(value):
        return change(value)
    if isinstance(value, dict):
        return {key: _each_sealed(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_each_sealed(item, change) for item in value]
    return value


def scrubbed(text: str, plain: Any, schema: Mapping[str, Any]) -> str:
    """``text`` (an error message, a traceback, a log line) with every secret value of
    the revealed payload ``plain`` that it quotes replaced by ``MASK``."""
    for path in secret_paths(plain, schema):
        value = _at(plain, path)
        form = value if isinstance(value, str) else json.dumps(value)
        if len(form) >= MIN_SCRUBBED:
            text = text.replace(form, MASK)
    return text


def unmasked(edited: Any, original: Any, schema: Mapping[str, Any]) -> Any:
    """An edited payload in which a secret left as ``MASK`` keeps its original value
    (as a password field left blank does): for resubmits edited from a masked view.
    A ``MASK`` with no original behind it stays as it is (and the schema judges it)."""
    result = edited
    for path in secret_paths(edited, schema):
        value = _at(original, path)
        if _at(edited, path) == MASK and value is not None:
            result = replaced(result, [path], lambda _mask, value=value: value)
    return result


def rotated(value: Any) -> Any:
    """``value`` (a payload, a snapshot …) with every sealed value in it sealed again
    with the first key (``manage.py secrets_rotate``). Raises ``SecretUnreadable``
    when no configured key opens one of them."""
    return _each_sealed(value, _rotated_value)


def _rotated_value(value: dict) -> dict:
    try:
        return {SEALED: _keys().rotate(value[SEALED].encode()).decode()}
    except InvalidToken:
        raise SecretUnreadable("no configured key opens this secret") from None


def _at(payload: Any, path: tuple[str, ...]) -> Any:
    value = payload
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _seal_value(value: Any) -> dict:
    token = _keys().encrypt(json.dumps(value).encode())
    return {SEALED: token.decode()}


def _open_value(value: dict) -> Any:
    try:
        return json.loads(_keys().decrypt(value[SEALED].encode()))
    except InvalidToken:
        raise SecretUnreadable("no configured key opens this secret") from None


@cache
def _fernets(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def _keys() -> MultiFernet:
    return _fernets(tuple(configured_keys()))


def configured_keys() -> list[str]:
    """The Fernet keys in use: ``CONDUCTOR_SECRETS_KEYS``, or one derived from
    ``SECRET_KEY`` when none is configured (development)."""
    if settings.CONDUCTOR_SECRETS_KEYS:
        return list(settings.CONDUCTOR_SECRETS_KEYS)
    digest = hashlib.sha256(f"conductor-secrets:{settings.SECRET_KEY}".encode())
    return [base64.urlsafe_b64encode(digest.digest()).decode()]
