"""City operator endpoints for money (``admin`` staff): merchants, top-ups, payout batches (Zengin),
reconciliation."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session
from web3 import Web3

from procedures.auth.service import Principal
from procedures.deps import AdminPrincipal, RuntimeDep, SessionDep
from procedures.errors import NotFound
from procedures.merchants import accounts as merchants
from procedures.merchants import payment_requests
from procedures.merchants.idempotency import IdempotencyKeyHeader, run_idempotent
from procedures.merchants.models import Merchant
from procedures.merchants.schemas import (
    ApiKeyOut,
    MerchantOut,
    PayoutBatchOut,
    PayoutOut,
    TopUpOut,
    api_key_out,
    merchant_out,
    payout_batch_out,
    payout_out,
    topup_out,
)
from procedures.operator import freezes, recoveries, wallet_actions
from procedures.pagination import CursorQuery, LimitQuery, Page
from procedures.runtime import Runtime
from procedures.settlement import payouts, reconcile, topups
from procedures.settlement.zengin import ACCOUNT_TYPES

router = APIRouter(prefix="/v1/admin", tags=["operator: money"])


def _operator(principal: Principal) -> str:
    return f"operator:{principal.subject}"


# --------------------------------------------------------------------------- merchants
class BankAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bank_code: str = Field(pattern=r"^\d{4}$", description="金融機関コード")
    branch_code: str = Field(pattern=r"^\d{3}$", description="支店コード")
    account_type: str = Field(description=", ".join(ACCOUNT_TYPES))
    account_number: str = Field(pattern=r"^\d{1,7}$")
    holder_name_kana: str = Field(min_length=1, max_length=60, description="口座名義 in katakana")
    bank_name_kana: str = Field("", max_length=30)
    branch_name_kana: str = Field("", max_length=30)


class MerchantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    business_name: str = Field(min_length=1, max_length=120)
    display_name: str | None = Field(None, max_length=80, description="shown to residents (default: business name)")
    bank_account: BankAccountIn


class SuspendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500)


class AdminKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("issued by the city", min_length=1, max_length=80)
    scopes: list[str] = Field(default_factory=lambda: list(merchants.SCOPES))


def _merchant_out(session: Session, runtime: Runtime, merchant: Merchant,
                  api_key: ApiKeyOut | None = None) -> MerchantOut:
    bank = merchants.bank_account(session, runtime.vault, merchant).masked()
    return merchant_out(merchant, payment_requests.static_uri(runtime, merchant), bank, api_key)


@router.post("/merchants", status_code=status.HTTP_201_CREATED, summary="Onboard a merchant")
def onboard_merchant(body: MerchantIn, runtime: RuntimeDep, session: SessionDep,
                     principal: AdminPrincipal) -> MerchantOut:
    """Custodial wallet, bank account (encrypted), registry entry (queued), and the first API key —
    returned once in ``api_key.secret``."""
    merchant, key, secret = merchants.onboard(
        session, runtime, business_name=body.business_name, display_name=body.display_name,
        bank=merchants.BankAccount(**body.bank_account.model_dump()), operator=_operator(principal))
    return _merchant_out(session, runtime, merchant, api_key_out(key, secret))


@router.get("/merchants", summary="List merchants")
def list_merchants(runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal, limit: LimitQuery = 50,
                   starting_after: CursorQuery = None) -> Page[MerchantOut]:
    """Ordered by id."""
    query = select(Merchant).order_by(Merchant.id).limit(limit + 1)
    if starting_after:
        query = query.where(Merchant.id > starting_after)
    rows = list(session.scalars(query))
    shown = [_merchant_out(session, runtime, m) for m in rows[:limit]]
    return Page(data=shown, has_more=len(rows) > limit,
                next_cursor=shown[-1].id if shown and len(rows) > limit else None)


@router.get("/merchants/{merchant_id}", summary="One merchant")
def get_merchant(merchant_id: str, runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal) -> MerchantOut:
    """With the bank account (masked)."""
    return _merchant_out(session, runtime, merchants.get_merchant(session, merchant_id))


@router.post("/merchants/{merchant_id}/suspend", summary="Suspend a merchant")
def suspend_merchant(merchant_id: str, runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal,
                     body: SuspendIn | None = None) -> MerchantOut:
    """Keys and payments are refused at once; the registry entry is suspended on chain."""
    merchant = merchants.suspend(session, runtime, merchant_id, body.reason if body else None)
    return _merchant_out(session, runtime, merchant)


@router.post("/merchants/{merchant_id}/reinstate", summary="Lift a merchant's suspension")
def reinstate_merchant(merchant_id: str, runtime: RuntimeDep, session: SessionDep,
                       _: AdminPrincipal) -> MerchantOut:
    """Re-registered on chain; active again once confirmed."""
    return _merchant_out(session, runtime, merchants.reinstate(session, runtime, merchant_id))


@router.post("/merchants/{merchant_id}/api_keys", status_code=status.HTTP_201_CREATED,
             summary="Issue an API key to a merchant")
def issue_merchant_key(merchant_id: str, runtime: RuntimeDep, session: SessionDep, principal: AdminPrincipal,
                       body: AdminKeyIn | None = None) -> ApiKeyOut:
    """For a merchant who lost every key; returned once."""
    body = body or AdminKeyIn()
    key, secret = merchants.issue_key(session, runtime.settings, merchants.get_merchant(session, merchant_id),
                                      name=body.name, scopes=body.scopes, created_by=_operator(principal))
    return api_key_out(key, secret)


# --------------------------------------------------------------------------- top-ups
class TopUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wallet: str
    amount: int = Field(gt=0, le=10_000_000, description="yen received")
    channel: str = Field("counter", description="counter or atm")
    location: str | None = Field(None, max_length=80, description="e.g. 加賀市役所 1F 窓口")
    reference: str = Field(min_length=1, max_length=80, description="slip or ATM transaction number (unique)")

    @field_validator("wallet")
    @classmethod
    def _address(cls, value: str) -> str:
        if not Web3.is_address(value):
            raise ValueError("not an Ethereum address")
        return Web3.to_checksum_address(value)


@router.post("/topups", status_code=status.HTTP_201_CREATED, response_model=TopUpOut,
             summary="Top up a resident's wallet (yen received)")
def create_topup(body: TopUpIn, request: Request, runtime: RuntimeDep, session: SessionDep,
                 principal: AdminPrincipal, idempotency_key: IdempotencyKeyHeader = None) -> Response:
    """Checks cap and minter budget first, then mints amount + campaign bonus; returns the receipt."""
    def produce() -> TopUpOut:
        topup = topups.create_topup(session, runtime, wallet=body.wallet, amount=body.amount, channel=body.channel,
                                    location=body.location, reference=body.reference, operator=_operator(principal))
        return topup_out(topup, runtime.settings.city_name)

    return run_idempotent(session, request, f"staff:{principal.subject}", idempotency_key,
                          body.model_dump(mode="json"), produce, status.HTTP_201_CREATED)


@router.get("/topups", summary="List top-ups")
def list_topups(runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal, limit: LimitQuery = 50,
                wallet: Annotated[str | None, Query(max_length=42)] = None) -> Page[TopUpOut]:
    """Newest first, optionally for one wallet."""
    address = Web3.to_checksum_address(wallet) if wallet and Web3.is_address(wallet) else wallet
    rows = topups.list_topups(session, address, limit + 1)
    return Page(data=[topup_out(t, runtime.settings.city_name) for t in rows[:limit]], has_more=len(rows) > limit)


@router.get("/topups/{topup_id}", summary="One top-up receipt")
def get_topup(topup_id: str, runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal) -> TopUpOut:
    """Status of the mint."""
    return topup_out(topups.get_topup(session, topup_id), runtime.settings.city_name)


# --------------------------------------------------------------------------- payouts and the bank file
class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transfer_date: date | None = Field(None, description="取組日 (default: today in Japan)")


@router.get("/payouts", summary="All merchants' payouts")
def list_payouts(session: SessionDep, _: AdminPrincipal, limit: LimitQuery = 50, starting_after: CursorQuery = None,
                 status_: Annotated[str | None, Query(alias="status")] = None) -> Page[PayoutOut]:
    """``status=redeemed`` lists what the next Zengin file will contain."""
    rows = payouts.list_payouts(session, None, limit=limit + 1, starting_after=starting_after, status=status_)
    shown = [payout_out(p) for p in rows[:limit]]
    return Page(data=shown, has_more=len(rows) > limit, next_cursor=shown[-1].id if shown and len(rows) > limit
                else None)


@router.post("/payout_batches", status_code=status.HTTP_201_CREATED, summary="Export pending payouts (Zengin file)")
def export_payout_batch(runtime: RuntimeDep, session: SessionDep, principal: AdminPrincipal,
                        body: BatchIn | None = None) -> PayoutBatchOut:
    """Every redeemed payout not yet exported goes into one 総合振込 file; download it from ``/file``."""
    batch, rows, _ = payouts.export_batch(session, runtime, body.transfer_date if body else None,
                                          _operator(principal))
    return payout_batch_out(batch, [p.id for p in rows])


@router.get("/payout_batches", summary="List payout batches")
def list_payout_batches(session: SessionDep, _: AdminPrincipal, limit: LimitQuery = 20) -> Page[PayoutBatchOut]:
    """Newest first."""
    rows = payouts.list_batches(session, limit + 1)
    return Page(data=[payout_batch_out(b, [p.id for p in payouts.batch_payouts(session, b.id)]) for b in rows[:limit]],
                has_more=len(rows) > limit)


@router.get("/payout_batches/{batch_id}", summary="One payout batch")
def get_payout_batch(batch_id: str, session: SessionDep, _: AdminPrincipal) -> PayoutBatchOut:
    """Its payouts and totals."""
    batch = payouts.get_batch(session, batch_id)
    return payout_batch_out(batch, [p.id for p in payouts.batch_payouts(session, batch.id)])


@router.get("/payout_batches/{batch_id}/file", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "Zengin file"}},
            summary="Download the Zengin transfer file")
def payout_batch_file(batch_id: str, runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal) -> Response:
    """Fixed-width 120-byte records, Shift_JIS, CRLF-separated: upload it to the bank."""
    batch = payouts.get_batch(session, batch_id)
    return Response(payouts.batch_file(session, runtime, batch), media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="zengin_{batch.id}_'
                                                    f'{batch.transfer_date:%Y%m%d}.txt"'})


@router.post("/payout_batches/{batch_id}/transferred", summary="Mark a batch as transferred by the bank")
def mark_batch_transferred(batch_id: str, runtime: RuntimeDep, session: SessionDep,
                           _: AdminPrincipal) -> PayoutBatchOut:
    """Every payout in it becomes ``paid`` (``payout.paid`` to each merchant)."""
    batch, rows = payouts.mark_transferred(session, runtime, batch_id)
    return payout_batch_out(batch, [p.id for p in rows])


# --------------------------------------------------------------------------- wallets: freeze, recovery retry
class WalletActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=freezes.MAX_REASON, description="why (kept in the audit trail)")


class WalletActionOut(BaseModel):
    id: str
    wallet: str
    action: str = Field(description="freeze, unfreeze or recover_retry")
    reason: str | None
    operator: str
    status: str = Field(description="the outbox intent: queued … confirmed or failed")
    tx_hash: str | None
    error_code: str | None
    created_at: datetime


class WalletStateOut(BaseModel):
    wallet: str
    frozen: bool = Field(description="the coin's freeze flag now")
    pending: str | None = Field(description="a freeze or unfreeze still on its way to the chain")
    actions: list[WalletActionOut]


class RecoveryStepOut(BaseModel):
    kind: str
    status: str
    tx_hash: str | None
    error_code: str | None


class RecoveryOut(BaseModel):
    identity_id: str
    lost_wallet: str
    new_wallet: str
    identity_status: str
    recovered_at: datetime
    rebind: RecoveryStepOut | None
    move: RecoveryStepOut | None
    lost_balance: int
    new_balance: int
    can_retry: bool
    blocker: str | None = Field(description="why the balance move cannot be retried now")


def _action_out(view: wallet_actions.ActionView) -> WalletActionOut:
    return WalletActionOut(**vars(view))


@router.get("/wallets/{wallet}", summary="A wallet's freeze state and operator actions")
def wallet_state(wallet: str, runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal) -> WalletStateOut:
    """The coin's freeze flag, a pending freeze/unfreeze, and the audit trail (newest first)."""
    state = freezes.freeze_state(session, runtime, wallet)
    return WalletStateOut(wallet=state.wallet, frozen=state.frozen, pending=state.pending,
                          actions=[_action_out(a) for a in wallet_actions.history(session, state.wallet)])


@router.post("/wallets/{wallet}/freeze", status_code=status.HTTP_202_ACCEPTED, summary="Freeze a wallet on the coin")
def freeze_wallet(wallet: str, runtime: RuntimeDep, session: SessionDep, principal: AdminPrincipal,
                  body: WalletActionIn | None = None) -> WalletActionOut:
    """Queued for the relayer (FREEZER_ROLE); the wallet can neither send nor receive once confirmed."""
    return _action_out(freezes.freeze(session, runtime, wallet, reason=body.reason if body else None,
                                      operator=_operator(principal)))


@router.post("/wallets/{wallet}/unfreeze", status_code=status.HTTP_202_ACCEPTED, summary="Lift a wallet's freeze")
def unfreeze_wallet(wallet: str, runtime: RuntimeDep, session: SessionDep, principal: AdminPrincipal,
                    body: WalletActionIn | None = None) -> WalletActionOut:
    """Queued for the relayer; the wallet works again once confirmed."""
    return _action_out(freezes.unfreeze(session, runtime, wallet, reason=body.reason if body else None,
                                        operator=_operator(principal)))


@router.get("/wallets/{wallet}/recovery", summary="The lost-wallet recovery involving a wallet")
def wallet_recovery(wallet: str, runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal) -> RecoveryOut:
    """Either wallet (lost or new) finds it; ``blocker`` says why a retry of the balance move is not possible."""
    view = recoveries.recovery_state(session, runtime, wallet)
    if view is None:
        raise NotFound("this wallet was not part of a lost-wallet recovery", code="no_recovery", param="wallet")
    steps = {name: RecoveryStepOut(**vars(step)) if step is not None else None
             for name, step in (("rebind", view.rebind), ("move", view.move))}
    fields = {k: v for k, v in vars(view).items() if k not in steps}
    return RecoveryOut(**fields, **steps, can_retry=view.can_retry)


@router.post("/wallets/{wallet}/recovery/retry", status_code=status.HTTP_202_ACCEPTED,
             summary="Retry a recovery's failed balance move")
def retry_recovery_move(wallet: str, runtime: RuntimeDep, session: SessionDep,
                        principal: AdminPrincipal) -> WalletActionOut:
    """``RegionalCoin.recover(lost)`` queued again (RECOVERY_ROLE), once its cause is fixed."""
    return _action_out(recoveries.retry_balance_move(session, runtime, wallet, operator=_operator(principal)))


# --------------------------------------------------------------------------- reconciliation
@router.get("/reconciliation", summary="Database ledger vs. chain balances and supply")
def reconciliation(runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal,
                   wallet: Annotated[list[str] | None, Query(description="also check these wallets")] = None,
                   ) -> dict[str, Any]:
    """Differences per wallet, in total supply, and records inconsistent with their intents."""
    extra = [w for w in wallet or [] if Web3.is_address(w)]
    return reconcile.reconcile(session, runtime, extra)
