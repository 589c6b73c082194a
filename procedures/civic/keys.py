"""Open311 API keys: issued by an operator to a third-party reporting app, sent as ``api_key`` in a POST.

A key is shown once and stored as a keyed hash (like merchant keys); its first characters find the row.
"""

from __future__ import annotations

import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.civic.models import Open311Key
from procedures.config import Settings
from procedures.crypto import keyed_hash
from procedures.errors import NotFound, PermissionDenied
from procedures.ids import new_id

PREFIX = "o311_"
LOOKUP_CHARS = 12
_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no look-alikes (l/1, O/0)


class InvalidApiKey(PermissionDenied):
    """The ``api_key`` is unknown, malformed or revoked (the spec's 403)."""

    code = "invalid_api_key"

    def __init__(self) -> None:
        super().__init__("api_key is not a valid Open311 key of this city", param="api_key")


def _hash(settings: Settings, token: str) -> bytes:
    return keyed_hash(settings.secret_key.get_secret_value(), "open311-api-key v1", token.encode())


def issue_key(session: Session, settings: Settings, *, name: str, created_by: str) -> tuple[Open311Key, str]:
    """A new key for the app ``name``: the row and the secret (shown once)."""
    lookup = "".join(secrets.choice(_ALPHABET) for _ in range(LOOKUP_CHARS))
    token = PREFIX + lookup + "".join(secrets.choice(_ALPHABET) for _ in range(32))
    key = Open311Key(id=new_id("o3k"), name=name, prefix=token[: len(PREFIX) + LOOKUP_CHARS],
                     secret_hash=_hash(settings, token), created_by=created_by)
    session.add(key)
    session.flush()
    return key, token


def resolve_key(session: Session, settings: Settings, token: str) -> Open311Key:
    """The live key ``token`` names.

    Raises:
        InvalidApiKey: unknown, malformed or revoked.
    """
    if not token.startswith(PREFIX) or len(token) < len(PREFIX) + LOOKUP_CHARS:
        raise InvalidApiKey()
    key = session.scalar(select(Open311Key).where(Open311Key.prefix == token[: len(PREFIX) + LOOKUP_CHARS]))
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.secret_hash, _hash(settings, token)):
        raise InvalidApiKey()
    return key


def list_keys(session: Session) -> list[Open311Key]:
    """Every key, newest first."""
    return list(session.scalars(select(Open311Key).order_by(Open311Key.created_at.desc(), Open311Key.id.desc())))


def revoke_key(session: Session, key_id: str) -> Open311Key:
    """Revoke a key (idempotent).

    Raises:
        NotFound: no such key.
    """
    key = session.get(Open311Key, key_id)
    if key is None:
        raise NotFound(f"no Open311 key {key_id}", param="id")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key
