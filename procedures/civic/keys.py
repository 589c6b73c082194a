"""Open311 API keys: issued by an operator to a third-party reporting app, sent as ``api_key`` in a POST.

A key is shown once and stored as a keyed hash (like merchant keys); its first characters find the row.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.civic.models import Open311Key
from procedures.config import Settings
from procedures.errors import NotFound, PermissionDenied
from procedures.ids import new_id
from procedures.key_tokens import LOOKUP_CHARS, lookup_of, new_token, token_hash, token_matches

PREFIX = "o311_"
_PURPOSE = "open311-api-key v1"


class InvalidApiKey(PermissionDenied):
    """The ``api_key`` is unknown, malformed or revoked (the spec's 403)."""

    code = "invalid_api_key"

    def __init__(self) -> None:
        super().__init__("api_key is not a valid Open311 key of this city", param="api_key")


def issue_key(session: Session, settings: Settings, *, name: str, created_by: str) -> tuple[Open311Key, str]:
    """A new key for the app ``name``: the row and the secret (shown once)."""
    token = new_token(PREFIX)
    key = Open311Key(id=new_id("o3k"), name=name, prefix=lookup_of(token, PREFIX),
                     secret_hash=token_hash(settings, _PURPOSE, token), created_by=created_by)
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
    key = session.scalar(select(Open311Key).where(Open311Key.prefix == lookup_of(token, PREFIX)))
    matches = token_matches(settings, _PURPOSE, key.secret_hash if key is not None else None, token)
    if key is None or not matches or key.revoked_at is not None:
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
