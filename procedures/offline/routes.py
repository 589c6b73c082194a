"""Offline payments over HTTP: a resident's reserve (resident token), the counters' sync and relay (the
merchant API), disaster mode and the payments waiting to be settled (``admin`` staff)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response, status

from procedures.deps import AdminPrincipal, ResidentPrincipal, RuntimeDep, SessionDep
from procedures.merchants.deps import PaymentsRead, PaymentsWrite, merchant_of
from procedures.offline import limits, service
from procedures.offline.models import OfflinePaymentRow
from procedures.offline.schemas import (
    DisasterIn,
    DisasterOut,
    OfflineConsoleOut,
    OfflinePaymentIn,
    OfflinePaymentOut,
    ReleaseIn,
    ReleaseOut,
    ReserveIn,
    ReserveOut,
    ReserveSnapshotOut,
    ReserveTopUpOut,
    SnapshotEntry,
    disaster_out,
    offline_payment_out,
)
from procedures.pagination import CursorQuery, LimitQuery, Page, newest_first, page_of
from procedures.ratelimit import limit as rate_limit
from procedures.rows import row_or_404

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["offline payments"])


# --------------------------------------------------------------------------- residents
@router.get("/wallet/offline", summary="My offline reserve")
def my_reserve(runtime: RuntimeDep, session: SessionDep, principal: ResidentPrincipal) -> ReserveOut:
    """Coins locked for offline payments, the limit now, and the reserve's chain and address."""
    state = service.reserve_state(session, runtime, str(principal.wallet))
    return ReserveOut(wallet=str(principal.wallet), reserved=state.reserved, adding=state.adding,
                      release_at=state.release_at or None, limit=state.limit, chain_id=state.chain_id,
                      reserve=state.reserve, max_validity=state.max_validity)


@router.post("/wallet/offline/reserve", status_code=status.HTTP_202_ACCEPTED,
             summary="Lock coins in my offline reserve")
def add_reserve(body: ReserveIn, request: Request, runtime: RuntimeDep, session: SessionDep,
                principal: ResidentPrincipal) -> ReserveTopUpOut:
    """The resident's signed ``ReceiveWithAuthorization`` to the reserve (202: being relayed)."""
    rate_limit(request, "offline-reserve", per_minute=30)
    row = service.reserve(session, runtime, str(principal.wallet), body.authorization.to_authorization())
    session.commit()
    return ReserveTopUpOut(id=row.id, amount=row.amount, status=row.status, created_at=row.created_at)


@router.post("/wallet/offline/release", status_code=status.HTTP_202_ACCEPTED,
             summary="Ask for my unused offline reserve back (after the reserve's delay)")
def request_release(body: ReleaseIn, request: Request, runtime: RuntimeDep, session: SessionDep,
                    principal: ResidentPrincipal) -> ReleaseOut:
    """The resident's signed ``ReleaseRequest``; then ``/wallet/offline/release/complete`` once it is due."""
    rate_limit(request, "offline-reserve", per_minute=30)
    due = service.request_release(session, runtime, str(principal.wallet), bytes.fromhex(body.nonce[2:]),
                                  bytes.fromhex(body.signature[2:]))
    session.commit()
    return ReleaseOut(status="requested", due_at=due)


@router.post("/wallet/offline/release/complete", status_code=status.HTTP_202_ACCEPTED,
             summary="Return my unused offline reserve to my wallet (once the release is due)")
def complete_release(request: Request, runtime: RuntimeDep, session: SessionDep,
                     principal: ResidentPrincipal) -> ReleaseOut:
    """409 ``release_not_due`` until the delay has passed."""
    rate_limit(request, "offline-reserve", per_minute=30)
    amount = service.complete_release(session, runtime, str(principal.wallet))
    session.commit()
    return ReleaseOut(status="releasing", amount=amount)


# --------------------------------------------------------------------------- merchants' counters
@router.get("/offline/snapshot", summary="The reserves a counter checks offline payments against (paged)")
def reserve_snapshot(runtime: RuntimeDep, session: SessionDep, principal: PaymentsWrite, limit: LimitQuery = 100,
                     starting_after: CursorQuery = None) -> ReserveSnapshotOut:
    """The residents' offline reserves on chain now (public on chain already), by payer, and this merchant's wallet;
    follow ``next_cursor`` as ``starting_after`` until ``has_more`` is false."""
    merchant = merchant_of(session, principal)
    page, next_cursor = service.snapshot(session, runtime, limit=limit, starting_after=starting_after)
    entries = [SnapshotEntry(payer=payer, reserved=reserved, release_at=release_at or None)
               for payer, reserved, release_at in page]
    return ReserveSnapshotOut(chain_id=runtime.manifest.chain_id, reserve=runtime.reserve.address,
                              merchant_wallet=merchant.wallet, synced_at=int(time.time()), reserves=entries,
                              has_more=next_cursor is not None, next_cursor=next_cursor)


@router.post("/offline_payments", status_code=status.HTTP_202_ACCEPTED,
             summary="Relay an offline payment a counter accepted",
             responses={200: {"model": OfflinePaymentOut, "description": "relayed before: its state now"}})
def relay_offline_payment(body: OfflinePaymentIn, request: Request, response: Response, runtime: RuntimeDep,
                          session: SessionDep, principal: PaymentsWrite) -> OfflinePaymentOut:
    """Checked again and queued for the reserve (202); the same code again answers 200 with its state."""
    rate_limit(request, "offline-relay", per_minute=600)
    row, new = service.receive(session, runtime, merchant_of(session, principal), body.code)
    session.commit()
    if not new:
        response.status_code = status.HTTP_200_OK
    return offline_payment_out(row)


@router.get("/offline_payments/{payment_id}", summary="An offline payment this merchant relayed")
def get_offline_payment(payment_id: str, session: SessionDep, principal: PaymentsRead) -> OfflinePaymentOut:
    """Its state: relaying, paid, or refused with the reason."""
    row = row_or_404(session, OfflinePaymentRow, payment_id, what="offline payment",
                     visible=lambda r: r.merchant_id == principal.subject)
    return offline_payment_out(row)


@router.get("/offline_payments", summary="Offline payments this merchant relayed, newest first")
def list_offline_payments(session: SessionDep, principal: PaymentsRead, limit: LimitQuery = 20,
                          starting_after: CursorQuery = None) -> Page[OfflinePaymentOut]:
    """Cursor-paginated by id."""
    from sqlalchemy import select

    query = select(OfflinePaymentRow).where(OfflinePaymentRow.merchant_id == principal.subject)
    window = newest_first(session, OfflinePaymentRow, query, limit=limit, starting_after=starting_after)
    return page_of(window, offline_payment_out)


# --------------------------------------------------------------------------- operators
def _operator(principal: AdminPrincipal) -> str:
    return f"operator:{principal.subject}"


@router.get("/admin/offline", summary="Disaster mode and the offline payments waiting to be settled")
def offline_overview(runtime: RuntimeDep, session: SessionDep, _: AdminPrincipal) -> OfflineConsoleOut:
    """The limit now, the periods running, and what counters relayed that the reserve has not settled yet."""
    count, coins, rows = service.waiting(session)
    return OfflineConsoleOut(reserve_limit=limits.reserve_limit(session, runtime.settings),
                             usual_limit=runtime.settings.offline_reserve_limit,
                             periods=[disaster_out(p) for p in limits.active_periods(session)],
                             waiting_count=count, waiting_coins=coins,
                             waiting=[offline_payment_out(r) for r in rows])


@router.post("/admin/offline/disaster", status_code=status.HTTP_201_CREATED,
             summary="Declare disaster mode: raise the offline limit city-wide for a period")
def declare_disaster(body: DisasterIn, runtime: RuntimeDep, session: SessionDep,
                     principal: AdminPrincipal) -> DisasterOut:
    """Recorded with who declared it and why (the audit record)."""
    period = limits.declare(session, runtime.settings, reserve_limit=body.reserve_limit, hours=body.hours,
                            reason=body.reason, operator=_operator(principal))
    session.commit()
    return disaster_out(period)


@router.post("/admin/offline/disaster/{period_id}/end", summary="End a disaster period early")
def end_disaster(period_id: str, session: SessionDep, principal: AdminPrincipal) -> DisasterOut:
    """The usual limit again (reserves above it stay; they just cannot grow)."""
    period = limits.end(session, period_id, _operator(principal))
    session.commit()
    return disaster_out(period)
