"""Settlement over HTTP: merchants' payouts and statements (part of the merchant API), and the
residents' top-up receipts. (The operator's side — top-ups, payout batches: ``procedures.operator``.)"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from procedures.deps import ResidentPrincipal, RuntimeDep, SessionDep
from procedures.errors import InvalidRequest
from procedures.merchants.deps import PayoutsRead, PayoutsWrite, StatementsRead, merchant_of, merchant_ref
from procedures.merchants.idempotency import IdempotencyKeyHeader, run_idempotent
from procedures.pagination import CursorQuery, LimitQuery, Page, page_of
from procedures.settlement import payouts, statements, topups
from procedures.settlement.schemas import PayoutIn, PayoutOut, TopUpOut, payout_out, topup_out

merchant_api = APIRouter(prefix="/v1", tags=["merchant API"])
wallet = APIRouter(prefix="/v1", tags=["wallet"])


# --------------------------------------------------------------------------- payouts
@merchant_api.post("/payouts", status_code=status.HTTP_202_ACCEPTED, response_model=PayoutOut,
                   summary="Redeem coins for a bank transfer in yen")
def create_payout(body: PayoutIn, request: Request, runtime: RuntimeDep, session: SessionDep,
                  principal: PayoutsWrite, idempotency_key: IdempotencyKeyHeader = None) -> Response:
    """The coins are burned; the city's next Zengin batch pays ``amount - fee`` yen (``payout.paid``)."""
    def produce() -> PayoutOut:
        return payout_out(payouts.create_payout(session, runtime, merchant_of(session, principal), body.amount))

    return run_idempotent(session, request, merchant_ref(principal), idempotency_key, body.model_dump(mode="json"),
                          produce, status.HTTP_202_ACCEPTED)


@merchant_api.get("/payouts", summary="List payouts, newest first")
def list_payouts(session: SessionDep, principal: PayoutsRead, limit: LimitQuery = 20,
                 starting_after: CursorQuery = None,
                 status_: Annotated[str | None, Query(alias="status")] = None) -> Page[PayoutOut]:
    """Cursor-paginated, optionally by status."""
    window = payouts.list_payouts(session, principal.subject, limit=limit, starting_after=starting_after,
                                  status=status_)
    return page_of(window, payout_out)


@merchant_api.get("/payouts/{payout_id}", summary="One payout")
def get_payout(payout_id: str, session: SessionDep, principal: PayoutsRead) -> PayoutOut:
    """Status of a payout."""
    return payout_out(payouts.get_payout(session, payout_id, principal.subject))


# --------------------------------------------------------------------------- statements
@merchant_api.get("/statements", response_class=Response,
                  responses={200: {"content": {"text/csv": {}}, "description": "CSV statement"}},
                  summary="Statement of payments, refunds and payouts (CSV)")
def statement(
    session: SessionDep, runtime: RuntimeDep, principal: StatementsRead,
    start: Annotated[datetime, Query(alias="from", description="ISO 8601 (no zone = the city's time), inclusive")],
    end: Annotated[datetime | None, Query(alias="to", description="exclusive; default now")] = None,
) -> Response:
    """Payments and refunds need ``payments:read``; payouts ``payouts:read``; each is included if allowed."""
    clock = runtime.settings.clock
    start_at = clock.aware(start)
    end_at = clock.aware(end) or clock.now()
    if end_at <= start_at or end_at - start_at > timedelta(days=400):
        raise InvalidRequest("the period must be positive and at most 400 days", param="to")
    rows = statements.statement_rows(session, principal.subject, start_at, end_at,
                                     payments="payments:read" in principal.scopes,
                                     payouts="payouts:read" in principal.scopes)
    name = f"statement_{principal.subject}_{start_at:%Y%m%d}-{end_at:%Y%m%d}.csv"
    return Response(statements.to_csv(rows, clock), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --------------------------------------------------------------------------- top-up receipts
@wallet.get("/wallet/topups", summary="My top-up receipts")
def my_topups(runtime: RuntimeDep, session: SessionDep, principal: ResidentPrincipal,
              limit: LimitQuery = 20, starting_after: CursorQuery = None) -> Page[TopUpOut]:
    """Newest first, cursor-paginated."""
    window = topups.list_topups(session, principal.wallet, limit, starting_after)
    return page_of(window, lambda topup: topup_out(topup, runtime.settings.city_name))


@wallet.get("/wallet/topups/{topup_id}", summary="One of my top-up receipts")
def my_topup(topup_id: str, runtime: RuntimeDep, session: SessionDep, principal: ResidentPrincipal) -> TopUpOut:
    """The receipt: yen paid, bonus, coins minted, status."""
    return topup_out(topups.get_topup(session, topup_id, principal.wallet), runtime.settings.city_name)


router = APIRouter()
router.include_router(merchant_api)
router.include_router(wallet)
