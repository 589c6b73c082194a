"""Merchant API keys: issued, listed, rotated with a grace period, revoked, and resolved to the
calling merchant on every request.

A key looks like ``mk_test_<12-char lookup><32-char secret>`` (``mk_live_`` in production: a key
made for one environment is refused by the other). Only ``HMAC-SHA256(k, key)`` is stored, ``k``
derived from ``MACHI_SECRET_KEY``, and compared in constant time; the key itself is shown once.
Keys carry scopes; a key can only mint keys with scopes it holds itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.auth.service import Principal
from procedures.config import Settings
from procedures.errors import Conflict, InvalidRequest, NotAuthenticated, PermissionDenied
from procedures.ids import new_id
from procedures.key_tokens import lookup_of, new_token, token_hash, token_matches
from procedures.merchants.models import ApiKey, Merchant
from procedures.merchants.rows import merchant_row

SCOPES = ("payments:read", "payments:write", "refunds:write", "payouts:read", "payouts:write", "webhooks:write",
          "keys:write")
#: How API keys begin, one prefix per environment (``key_mode``).
KEY_PREFIXES = ("mk_live_", "mk_test_")
_PURPOSE = "merchant-api-key v1"
_LAST_USED_EVERY = timedelta(minutes=1)


def key_mode(settings: Settings) -> str:
    """``live`` in production, ``test`` elsewhere."""
    return "live" if settings.environment == "production" else "test"


def issue_key(
    session: Session, settings: Settings, merchant: Merchant, *, name: str, scopes: list[str], created_by: str,
) -> tuple[ApiKey, str]:
    """A new API key for ``merchant`` (returned once, stored as a keyed hash).

    Raises:
        InvalidRequest: an unknown scope or no scope.
    """
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidRequest(f"scopes are some of {', '.join(SCOPES)}" + (f"; unknown: {', '.join(unknown)}"
                             if unknown else ""), code="invalid_scope", param="scopes")
    prefix = f"mk_{key_mode(settings)}_"
    token = new_token(prefix)
    key = ApiKey(id=new_id("key"), merchant_id=merchant.id, name=name, prefix=lookup_of(token, prefix),
                 secret_hash=token_hash(settings, _PURPOSE, token),
                 scopes=[s for s in SCOPES if s in scopes], created_by=created_by)
    session.add(key)
    session.flush()
    return key, token


def get_key(session: Session, merchant_id: str, key_id: str) -> ApiKey:
    """One of the merchant's keys.

    Raises:
        NotFound: no such key for this merchant.
    """
    return merchant_row(session, ApiKey, key_id, merchant_id, what="API key")


def _live(key: ApiKey, now: datetime) -> bool:
    return key.revoked_at is None and (key.expires_at is None or key.expires_at > now)


def list_keys(session: Session, merchant_id: str) -> list[ApiKey]:
    """The merchant's keys, newest first (revoked ones included)."""
    return list(session.scalars(select(ApiKey).where(ApiKey.merchant_id == merchant_id)
                                .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())))


def revoke_key(session: Session, merchant_id: str, key_id: str) -> ApiKey:
    """Revoke a key now (idempotent).

    Raises:
        NotFound: no such key for this merchant.
    """
    key = get_key(session, merchant_id, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def rotate_key(
    session: Session, settings: Settings, merchant: Merchant, key_id: str, *, grace_seconds: int, created_by: str,
) -> tuple[ApiKey, str]:
    """Replace a key by a new one with the same name and scopes; the old one stops working after
    ``grace_seconds`` (0 = now), so deployments can switch without downtime.

    Raises:
        NotFound: no such key.  Conflict: the key is already revoked or expired.
    """
    old = get_key(session, merchant.id, key_id)
    now = utcnow()
    if not _live(old, now):
        raise Conflict("this key is revoked or expired; create a new one instead", code="key_inactive")
    new, token = issue_key(session, settings, merchant, name=old.name, scopes=list(old.scopes),
                           created_by=created_by)
    if grace_seconds <= 0:
        old.revoked_at = now
    else:
        old.expires_at = now + timedelta(seconds=grace_seconds)
    return new, token


def resolve_api_key(session: Session, settings: Settings, token: str) -> Principal:
    """Token resolver of ``mk_live_`` / ``mk_test_`` keys: a merchant ``Principal`` with its scopes.

    Raises:
        NotAuthenticated: unknown, revoked, expired or wrong-environment key.
        PermissionDenied: the merchant is suspended.
    """
    mode, wanted = token[3:7], key_mode(settings)
    if mode != wanted:
        raise NotAuthenticated(f"this is a {mode} key; this service takes {wanted} keys", code="api_key_wrong_mode")
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == lookup_of(token, f"mk_{wanted}_")))
    matches = token_matches(settings, _PURPOSE, key.secret_hash if key is not None else None, token)
    now = utcnow()
    if key is None or not matches:
        raise NotAuthenticated("invalid API key", code="invalid_api_key")
    if not _live(key, now):
        raise NotAuthenticated("this API key was revoked or has expired", code="api_key_revoked")
    merchant = session.get(Merchant, key.merchant_id)
    if merchant is None:
        raise NotAuthenticated("invalid API key", code="invalid_api_key")
    if merchant.status == "suspended":
        raise PermissionDenied("this merchant account is suspended", code="merchant_suspended")
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_EVERY:
        key.last_used_at = now
    return Principal(type="merchant", subject=merchant.id, role="merchant", scopes=frozenset(key.scopes),
                     wallet=merchant.wallet)
