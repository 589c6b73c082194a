"""City operator endpoints for money (``admin`` staff): merchants, top-ups, payout batches (Zengin),
reconciliation, the prepaid report."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from procedures.addresses import checksum, is_wallet
from procedures.auth.service import Principal
from procedures.deps import AdminPrincipal, RuntimeDep, SessionDep
from procedures.merchants import accounts as merchants
from procedures.merchants import api_keys, codes
from procedures.merchants.idempotency import IdempotencyKeyHeader, run_idempotent
from procedures.merchants.models import Merchant
from procedures.merchants.schemas import (
    AdminKeyIn,
    ApiKeyOut,
    MerchantIn,
    MerchantOut,
    SuspendIn,
    api_key_out,
    merchant_out,
)
from procedures.operator import freezes, recoveries, wallet_actions
from procedures.operator.schemas import (
    FreezeIn,
    RecoveryOut,
    WalletActionIn,
    WalletActionOut,
    WalletStateOut,
    action_out,
    recovery_out,
    wallet_state_out,
)
from procedures.pagination import CursorQuery, LimitQuery, Page, page_of
from procedures.runtime import Runtime
from procedures.settlement import payouts, prepaid, reconcile, topups
from procedures.settlement.models import PayoutBatch
from procedures.settlement.schemas import (
    BatchIn,
    PayoutBatchOut,
    PayoutOut,
    TopUpIn,
    TopUpOut,
    payout_batch_out,
    payout_out,
    topup_out,
)

router = APIRouter(prefix="/v1/admin", tags=["operator: money"])


def _operator(principal: Principal) -> str:
    return f"operator:{principal.subject}"


# --------------------------------------------------------------------------- merchants
def _merchant_out(session: Session, runtime: Runtime, merchant: Merchant,
                  api_key: ApiKeyOut | None = None) -> MerchantOut:
    bank = merchants.bank_account(session, runtime.vault, merchant).masked()
    return merchant_out(merchant, codes.static_uri(runtime, merchant), bank, api_key)


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
    window = merchants.list_merchants(session, limit=limit, starting_after=starting_after)
    return page_of(window, lambda merchant: _merchant_out(session, runtime, merchant))


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
    key, secret = api_keys.issue_key(session, runtime.settings, merchants.get_merchant(session, merchant_id),
                                      name=body.name, scopes=body.scopes, created_by=_operator(principal))
    return api_key_out(key, secret)


# --------------------------------------------------------------------------- top-ups
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


@router.post("/topups/{topup_id}/approve", response_model=TopUpOut, summary="Approve a top-up (four eyes)")
def approve_topup(topup_id: str, runtime: RuntimeDep, session: SessionDep, principal: AdminPrincipal) -> TopUpOut:
    """A second staff member approves a top-up over the four-eyes amount; the mint is queued once."""
    topup = topups.approve_topup(session, runtime, topup_id, approver=_operator(principal))
    return topup_out(topup, runtime.settings.city_name)


@router.get("/topups", summary="List top-ups")
def list_topups(runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal, limit: LimitQuery = 50,
                starting_after: CursorQuery = None,
                wallet: Annotated[str | None, Query(max_length=42)] = None) -> Page[TopUpOut]:
    """Newest first, cursor-paginated, optionally for one wallet."""
    address = checksum(wallet) if is_wallet(wallet) else wallet
    window = topups.list_topups(session, address, limit, starting_after)
    return page_of(window, lambda topup: topup_out(topup, runtime.settings.city_name))


@router.get("/topups/{topup_id}", summary="One top-up receipt")
def get_topup(topup_id: str, runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal) -> TopUpOut:
    """Status of the mint."""
    return topup_out(topups.get_topup(session, topup_id), runtime.settings.city_name)


# --------------------------------------------------------------------------- payouts and the bank file
@router.get("/payouts", summary="All merchants' payouts")
def list_payouts(session: SessionDep, _: AdminPrincipal, limit: LimitQuery = 50, starting_after: CursorQuery = None,
                 status_: Annotated[str | None, Query(alias="status")] = None) -> Page[PayoutOut]:
    """``status=redeemed`` lists what the next Zengin file will contain."""
    return page_of(payouts.list_payouts(session, None, limit=limit, starting_after=starting_after, status=status_),
                   payout_out)


@router.post("/payout_batches", status_code=status.HTTP_201_CREATED, summary="Export pending payouts (Zengin file)")
def export_payout_batch(runtime: RuntimeDep, session: SessionDep, principal: AdminPrincipal,
                        body: BatchIn | None = None) -> PayoutBatchOut:
    """Every redeemed payout not yet exported goes into one 総合振込 file; download it from ``/file``."""
    batch, rows, _ = payouts.export_batch(session, runtime, body.transfer_date if body else None,
                                          _operator(principal))
    return payout_batch_out(batch, [p.id for p in rows])


def _batch_out(session: Session, batch: PayoutBatch) -> PayoutBatchOut:
    return payout_batch_out(batch, [p.id for p in payouts.batch_payouts(session, batch.id)])


@router.get("/payout_batches", summary="List payout batches")
def list_payout_batches(session: SessionDep, _: AdminPrincipal, limit: LimitQuery = 20,
                        starting_after: CursorQuery = None) -> Page[PayoutBatchOut]:
    """Newest first, cursor-paginated."""
    return page_of(payouts.list_batches(session, limit, starting_after), lambda batch: _batch_out(session, batch))


@router.get("/payout_batches/{batch_id}", summary="One payout batch")
def get_payout_batch(batch_id: str, session: SessionDep, _: AdminPrincipal) -> PayoutBatchOut:
    """Its payouts and totals."""
    return _batch_out(session, payouts.get_batch(session, batch_id))


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
@router.get("/wallets/{wallet}", summary="A wallet's freeze state and operator actions")
def wallet_state(wallet: str, runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal) -> WalletStateOut:
    """The coin's freeze flag, a pending freeze/unfreeze, and the audit trail (newest first)."""
    state = freezes.freeze_state(session, runtime, wallet)
    return wallet_state_out(state, wallet_actions.history(session, state.wallet))


@router.post("/wallets/{wallet}/freeze", status_code=status.HTTP_202_ACCEPTED, summary="Freeze a wallet on the coin")
def freeze_wallet(wallet: str, runtime: RuntimeDep, session: SessionDep, principal: AdminPrincipal,
                  body: FreezeIn | None = None) -> WalletActionOut:
    """Queued for the relayer (FREEZER_ROLE); the wallet can neither send nor receive once confirmed
    (``reported_lost``: and a recovery may still move it)."""
    return action_out(freezes.freeze(session, runtime, wallet, reason=body.reason if body else None,
                                      operator=_operator(principal), reported_lost=bool(body and body.reported_lost)))


@router.post("/wallets/{wallet}/unfreeze", status_code=status.HTTP_202_ACCEPTED, summary="Lift a wallet's freeze")
def unfreeze_wallet(wallet: str, runtime: RuntimeDep, session: SessionDep, principal: AdminPrincipal,
                    body: WalletActionIn | None = None) -> WalletActionOut:
    """Four eyes: recorded ``awaiting``; another staff member approves it
    (``POST /v1/admin/wallet_actions/{id}/approve``), then it is queued and the wallet works again once
    confirmed."""
    return action_out(freezes.unfreeze(session, runtime, wallet, reason=body.reason if body else None,
                                        operator=_operator(principal)))


@router.post("/wallet_actions/{action_id}/approve", status_code=status.HTTP_202_ACCEPTED,
             summary="Approve an unfreeze (four eyes)")
def approve_wallet_action(action_id: str, runtime: RuntimeDep, session: SessionDep,
                          principal: AdminPrincipal) -> WalletActionOut:
    """A second staff member approves an unfreeze; the call is queued once."""
    return action_out(freezes.approve_unfreeze(session, runtime, action_id, approver=_operator(principal)))


@router.get("/wallets/{wallet}/recovery", summary="The lost-wallet recovery involving a wallet")
def wallet_recovery(wallet: str, runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal) -> RecoveryOut:
    """Either wallet (lost or new) finds it; ``blocker`` says why a retry of the balance move is not possible."""
    return recovery_out(recoveries.get_recovery(session, runtime, wallet))


@router.post("/wallets/{wallet}/recovery/cancel", status_code=status.HTTP_202_ACCEPTED,
             summary="Cancel a pending recovery (freezer power)")
def cancel_recovery(wallet: str, runtime: RuntimeDep, session: SessionDep,
                    principal: AdminPrincipal) -> WalletActionOut:
    """``RegionalCoin.cancelRecovery(lost)`` queued (FREEZER_ROLE); the lost wallet stays linked."""
    return action_out(recoveries.cancel(session, runtime, wallet, operator=_operator(principal)))


@router.post("/wallets/{wallet}/recovery/retry", status_code=status.HTTP_202_ACCEPTED,
             summary="Retry a recovery's failed balance move")
def retry_recovery_move(wallet: str, runtime: RuntimeDep, session: SessionDep,
                        principal: AdminPrincipal) -> WalletActionOut:
    """``RegionalCoin.executeRecovery(lost)`` queued again, once the cause of its failure is fixed."""
    return action_out(recoveries.retry_balance_move(session, runtime, wallet, operator=_operator(principal)))


# --------------------------------------------------------------------------- the Payment Services Act report
@router.get("/reports/prepaid", summary="Unused balance at a base date and the deposit it requires (資金決済法)",
            responses={200: {"content": {"text/csv": {}}, "description": "the report (JSON, or CSV with format=csv)"}})
def prepaid_report(
    runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal,
    base_date: Annotated[date | None, Query(description="March 31 or September 30; default the latest one")] = None,
    as_of: Annotated[datetime | None, Query(description="an interim figure at this instant instead (ISO 8601, "
                                                        "no zone = the city's time)")] = None,
    format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Response:
    """From the chain at the last block before the end of the base date: residents' unused balance
    (wallets and offline reserve), merchants' unredeemed coins, city accounts, issued and redeemed in the
    half-year, the required deposit (half of the whole unused balance once it exceeds ¥10,000,000), and
    whether the node's state at that block matches the index."""
    report = prepaid.report_for(session, runtime, base_date, as_of)
    if format_ == "csv":
        name = prepaid.csv_filename(report)
        return Response(prepaid.to_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return JSONResponse(report.to_dict())


# --------------------------------------------------------------------------- reconciliation
@router.get("/reconciliation", summary="Database ledger vs. chain balances and supply")
def reconciliation(runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal,
                   wallet: Annotated[list[str] | None, Query(description="also check these wallets")] = None,
                   ) -> dict[str, Any]:
    """Differences per wallet, in total supply, and records inconsistent with their intents."""
    extra = [w for w in wallet or [] if is_wallet(w)]
    return reconcile.reconcile(session, runtime, extra)
