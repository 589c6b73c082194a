"""The resident's history endpoint."""

from __future__ import annotations

from fastapi import APIRouter

from procedures.deps import ResidentPrincipal, RuntimeDep, SessionDep
from procedures.history import movements
from procedures.history.schemas import MovementsOut, movements_out
from procedures.pagination import CursorQuery, LimitQuery

router = APIRouter(prefix="/v1", tags=["wallet"])


@router.get("/wallet/movements", summary="Every movement of my balance, newest first, with the running balance")
def wallet_movements(runtime: RuntimeDep, session: SessionDep, principal: ResidentPrincipal,
                     limit: LimitQuery = 50, starting_after: CursorQuery = None) -> MovementsOut:
    """Top-ups, benefits, payments, refunds, fees, transfers and recovery moves from the chain's events,
    named (the shop, the city), and transfers still on their way."""
    return movements_out(movements.page(session, runtime, str(principal.wallet), limit, starting_after))
