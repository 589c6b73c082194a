"""Merchants: onboarding (custodial wallet, encrypted bank account, registry entry), suspension,
and their API keys.

API keys look like ``mk_test_<12-char lookup><32-char secret>`` (``mk_live_`` in production: a
key made for one environment is refused by the other). Only ``HMAC-SHA256(k, key)`` is stored,
``k`` derived from ``MACHI_SECRET_KEY``, and compared in constant time; the key itself is shown
once. Keys carry scopes; a key can only mint keys with scopes it holds itself.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eth_utils.crypto import keccak
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chain.outbox import IntentStatus, TxIntent, enqueue
from chain.storage import utcnow
from procedures.auth.service import Principal
from procedures.config import Settings
from procedures.crypto import Vault, keyed_hash
from procedures.errors import Conflict, InvalidRequest, NotAuthenticated, NotFound, PermissionDenied
from procedures.merchants.models import ApiKey, Merchant
from procedures.runtime import Runtime
from procedures.settlement.zengin import ACCOUNT_TYPES, to_zengin_kana
from procedures.transfers.service import create_custodial_wallet

log = logging.getLogger("machi.merchants")

SCOPES = ("payments:read", "payments:write", "refunds:write", "payouts:read", "payouts:write", "webhooks:write",
          "keys:write")
#: How API keys begin, one prefix per environment (``key_mode``).
KEY_PREFIXES = ("mk_live_", "mk_test_")
MERCHANT_KEY_YEARS = 10
LOOKUP_CHARS = 12
_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no look-alikes (l/1, O/0)
_LAST_USED_EVERY = timedelta(minutes=1)


class MerchantUnavailable(Conflict):
    """The merchant cannot take payments now (not yet registered, or suspended)."""

    code = "merchant_unavailable"


# --------------------------------------------------------------------------- bank accounts
@dataclass(frozen=True)
class BankAccount:
    """A merchant's payout account (sealed at rest; only the operator and the Zengin export read it).

    Attributes:
        bank_code: 4-digit 金融機関コード.  branch_code: 3-digit 支店コード.
        account_type: ordinary (普通) | current (当座) | savings (貯蓄) | other.
        account_number: up to 7 digits.  holder_name_kana: 口座名義 (converted to half-width kana).
    """

    bank_code: str
    branch_code: str
    account_type: str
    account_number: str
    holder_name_kana: str
    bank_name_kana: str = ""
    branch_name_kana: str = ""

    def validated(self) -> BankAccount:
        """The account with names in Zengin half-width kana and the number zero-padded.

        Raises:
            InvalidRequest: a code, the number or a name does not fit a Zengin record.
        """
        if not (self.bank_code.isdigit() and len(self.bank_code) == 4):
            raise InvalidRequest("bank_code is the 4-digit bank code (金融機関コード)", param="bank_account.bank_code")
        if not (self.branch_code.isdigit() and len(self.branch_code) == 3):
            raise InvalidRequest("branch_code is the 3-digit branch code", param="bank_account.branch_code")
        if self.account_type not in ACCOUNT_TYPES:
            raise InvalidRequest(f"account_type is one of {', '.join(ACCOUNT_TYPES)}",
                                 param="bank_account.account_type")
        if not (self.account_number.isdigit() and 1 <= len(self.account_number) <= 7):
            raise InvalidRequest("account_number is up to 7 digits", param="bank_account.account_number")
        fields = {}
        for name, width in (("holder_name_kana", 30), ("bank_name_kana", 15), ("branch_name_kana", 15)):
            try:
                value = to_zengin_kana(getattr(self, name))
            except InvalidRequest as exc:
                raise InvalidRequest(exc.message, code="invalid_kana", param=f"bank_account.{name}") from None
            if len(value) > width:
                raise InvalidRequest(f"{name} must be at most {width} half-width characters",
                                     param=f"bank_account.{name}")
            fields[name] = value
        if not fields["holder_name_kana"]:
            raise InvalidRequest("holder_name_kana is required", param="bank_account.holder_name_kana")
        return BankAccount(self.bank_code, self.branch_code, self.account_type, self.account_number.zfill(7),
                           **fields)

    def masked(self) -> dict[str, str]:
        """For display: the number reduced to its last three digits."""
        return {"bank_code": self.bank_code, "branch_code": self.branch_code, "account_type": self.account_type,
                "account_number": "****" + self.account_number[-3:], "holder_name_kana": self.holder_name_kana,
                "bank_name_kana": self.bank_name_kana, "branch_name_kana": self.branch_name_kana}


def bank_account(session: Session, vault: Vault, merchant: Merchant) -> BankAccount:
    """Decrypt a merchant's bank account."""
    data = vault.open_json(session, merchant.bank_key_id, merchant.bank_blob, aad=merchant.id.encode())
    return BankAccount(**data)


# --------------------------------------------------------------------------- onboarding
def new_id(prefix: str) -> str:
    """An opaque, unguessable object id such as ``pr_3f…`` (Stripe style)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def get_merchant(session: Session, merchant_id: str, *, lock: bool = False) -> Merchant:
    """A merchant by id.

    Raises:
        NotFound: no such merchant.
    """
    merchant = session.get(Merchant, merchant_id, with_for_update=lock or None)
    if merchant is None:
        raise NotFound(f"no merchant {merchant_id}", param="merchant")
    return merchant


def onboard(
    session: Session, runtime: Runtime, *, business_name: str, display_name: str | None, bank: BankAccount,
    operator: str,
) -> tuple[Merchant, ApiKey, str]:
    """Create a merchant: a custodial wallet, its bank account sealed, its registry entry queued,
    and a first API key with every scope.

    Returns:
        (merchant, key row, the key itself — shown once).

    Raises:
        InvalidRequest: a bad bank account or name.
    """
    account = bank.validated()
    merchant_id = new_id("mer")
    wallet = create_custodial_wallet(session, runtime.vault, "merchant", merchant_id)
    key_id = runtime.vault.new_key(session, "merchant-bank-account")
    blob = runtime.vault.seal_json(session, key_id, account.__dict__, aad=merchant_id.encode())
    merchant = Merchant(id=merchant_id, business_name=business_name.strip(),
                        display_name=(display_name or business_name).strip(), status="pending",
                        wallet=wallet.address, bank_key_id=key_id, bank_blob=blob)
    session.add(merchant)
    session.flush()
    merchant.registration_intent_id = _register_on_chain(session, runtime, merchant, "register")
    key, secret = issue_key(session, runtime.settings, merchant, name="default", scopes=list(SCOPES),
                            created_by=operator)
    return merchant, key, secret


def _register_on_chain(session: Session, runtime: Runtime, merchant: Merchant, action: str) -> int:
    count = session.scalar(select(func.count()).select_from(TxIntent).where(
        TxIntent.reference.like(f"merchant-%:{merchant.id}:%"))) or 0
    expires = int(time.time()) + MERCHANT_KEY_YEARS * 365 * 86400
    call = runtime.registry.register_merchant_call(
        merchant.wallet, keccak(b"machi:merchant:" + merchant.id.encode()), expires, keccak(merchant.bank_blob))
    intent = enqueue(session, sender=runtime.keys.relayer.address, to=call.to, data=call.data,
                     kind=f"merchant.{action}", reference=f"merchant-{action}:{merchant.id}:{count}")
    return intent.id


def suspend(session: Session, runtime: Runtime, merchant_id: str, reason: str | None) -> Merchant:
    """Suspend at once in the service (keys and payments refused) and on chain (queued).

    Raises:
        NotFound: no such merchant.  Conflict: already suspended.
    """
    merchant = get_merchant(session, merchant_id, lock=True)
    if merchant.status == "suspended":
        raise Conflict("the merchant is already suspended", code="already_suspended")
    merchant.status = "suspended"
    merchant.status_reason = reason
    merchant.suspended_at = utcnow()
    count = session.scalar(select(func.count()).select_from(TxIntent).where(
        TxIntent.reference.like(f"merchant-%:{merchant.id}:%"))) or 0
    call = runtime.registry.suspend_merchant_call(merchant.wallet)
    enqueue(session, sender=runtime.keys.relayer.address, to=call.to, data=call.data, kind="merchant.suspend",
            reference=f"merchant-suspend:{merchant.id}:{count}")
    return merchant


def reinstate(session: Session, runtime: Runtime, merchant_id: str) -> Merchant:
    """Lift a suspension (the registry entry is re-registered; active once confirmed).

    Raises:
        NotFound: no such merchant.  Conflict: not suspended.
    """
    merchant = get_merchant(session, merchant_id, lock=True)
    if merchant.status != "suspended":
        raise Conflict("only a suspended merchant can be reinstated", code="not_suspended")
    merchant.status = "pending"
    merchant.status_reason = None
    _register_on_chain(session, runtime, merchant, "reinstate")
    return merchant


def on_merchant_intent_final(session: Session, runtime: Runtime, intent: TxIntent) -> None:
    """Final-state handler of ``merchant.*`` intents: activate after (re-)registration, note failures."""
    if intent.reference is None:
        return
    merchant_id = intent.reference.split(":")[1]
    merchant = session.get(Merchant, merchant_id, with_for_update=True)
    if merchant is None:
        return
    action = intent.kind.removeprefix("merchant.")
    if action in ("register", "reinstate") and merchant.status == "pending":
        if intent.status == IntentStatus.CONFIRMED:
            merchant.status = "active"
            merchant.activated_at = merchant.activated_at or utcnow()
        else:
            merchant.status = "registration_failed"
            merchant.status_reason = intent.error_message or intent.error_code
    elif action == "suspend" and intent.status == IntentStatus.FAILED:
        log.error("suspending merchant %s on chain failed: %s", merchant.id, intent.error_message)
        merchant.status_reason = f"on-chain suspension failed: {intent.error_code}"



def ensure_active(merchant: Merchant) -> None:
    """Raises MerchantUnavailable unless the merchant can take payments."""
    if merchant.status != "active":
        raise MerchantUnavailable(f"{merchant.display_name} cannot take payments right now ({merchant.status})")


# --------------------------------------------------------------------------- API keys
def key_mode(settings: Settings) -> str:
    """``live`` in production, ``test`` elsewhere."""
    return "live" if settings.environment == "production" else "test"


def _hash(secret: str, token: str) -> bytes:
    return keyed_hash(secret, "merchant-api-key v1", token.encode())


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
    lookup = "".join(secrets.choice(_ALPHABET) for _ in range(LOOKUP_CHARS))
    token = f"mk_{key_mode(settings)}_{lookup}" + "".join(secrets.choice(_ALPHABET) for _ in range(32))
    key = ApiKey(id=new_id("key"), merchant_id=merchant.id, name=name, prefix=token[: 8 + LOOKUP_CHARS],
                 secret_hash=_hash(settings.secret_key.get_secret_value(), token),
                 scopes=[s for s in SCOPES if s in scopes], created_by=created_by)
    session.add(key)
    session.flush()
    return key, token


def get_key(session: Session, merchant_id: str, key_id: str) -> ApiKey:
    """One of the merchant's keys.

    Raises:
        NotFound: no such key for this merchant.
    """
    key = session.get(ApiKey, key_id)
    if key is None or key.merchant_id != merchant_id:
        raise NotFound(f"no API key {key_id}", param="id")
    return key


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
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == token[: 8 + LOOKUP_CHARS]))
    expected = key.secret_hash if key is not None else b"\0" * 32
    matches = hmac.compare_digest(expected, _hash(settings.secret_key.get_secret_value(), token))
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



def merchant_summary(merchant: Merchant) -> dict[str, Any]:
    """What a resident may see of a merchant before paying."""
    return {"id": merchant.id, "display_name": merchant.display_name, "wallet": merchant.wallet}
