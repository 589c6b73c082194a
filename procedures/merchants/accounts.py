"""Merchants: onboarding (custodial wallet, encrypted bank account, registry entry, a first API
key), suspension and reinstatement, and the registry's answer coming back (``merchant.*`` intents).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from eth_utils.crypto import keccak
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chain.outbox import IntentStatus, TxIntent, enqueue
from chain.storage import utcnow
from procedures.crypto import Vault
from procedures.errors import Conflict, InvalidRequest
from procedures.ids import new_id
from procedures.merchants import api_keys
from procedures.merchants.models import ApiKey, Merchant
from procedures.pagination import Window
from procedures.rows import row_or_404
from procedures.runtime import Runtime
from procedures.transfers.custodial import create_custodial_wallet
from procedures.zengin import ACCOUNT_TYPES, to_zengin_kana

log = logging.getLogger("machi.merchants")

MERCHANT_KEY_YEARS = 10


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
def get_merchant(session: Session, merchant_id: str, *, lock: bool = False) -> Merchant:
    """A merchant by id.

    Raises:
        NotFound: no such merchant.
    """
    return row_or_404(session, Merchant, merchant_id, what="merchant", param="merchant", lock=lock)


def list_merchants(session: Session, *, limit: int, starting_after: str | None) -> Window[Merchant]:
    """Merchants in id order, ``limit`` of them after the id ``starting_after``."""
    query = select(Merchant).order_by(Merchant.id).limit(limit + 1)
    if starting_after:
        query = query.where(Merchant.id > starting_after)
    return Window.cut(list(session.scalars(query)), limit)


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
    key, secret = api_keys.issue_key(session, runtime.settings, merchant, name="default",
                                     scopes=list(api_keys.SCOPES), created_by=operator)
    return merchant, key, secret


def _register_on_chain(session: Session, runtime: Runtime, merchant: Merchant, action: str) -> int:
    count = session.scalar(select(func.count()).select_from(TxIntent).where(
        TxIntent.reference.like(f"merchant-%:{merchant.id}:%"))) or 0
    expires = int(time.time()) + MERCHANT_KEY_YEARS * 365 * 86400
    call = runtime.registry.register_merchant_call(
        merchant.wallet, keccak(b"machi:merchant:" + merchant.id.encode()), expires, keccak(merchant.bank_blob))
    intent = enqueue(session, sender=runtime.keys.registrar.address, to=call.to, data=call.data,
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
    enqueue(session, sender=runtime.keys.registrar.address, to=call.to, data=call.data, kind="merchant.suspend",
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
