"""Operator page for offline payments: disaster mode (the limit now, the periods running, who declared them)
and the offline payments merchants' counters relayed that the reserve has not settled yet.

Read-only: disaster mode is declared through ``POST /v1/admin/offline/disaster`` or ``machi disaster start``
(both as an admin, both recorded); this page goes through the same ``procedures.offline`` functions.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from procedures.console.pages import AdminDep, render
from procedures.deps import RuntimeDep, SessionDep
from procedures.offline import limits, service

router = APIRouter(prefix="/offline")


@router.get("", response_class=HTMLResponse)
def offline_page(request: Request, session: SessionDep, runtime: RuntimeDep, user: AdminDep) -> Response:
    """Disaster mode and the offline payments waiting to be settled."""
    count, coins, rows = service.waiting(session, limit=200)
    return render(request, "offline.html", {
        "limit": limits.reserve_limit(session, runtime.settings), "usual": runtime.settings.offline_reserve_limit,
        "periods": limits.active_periods(session), "count": count, "coins": coins, "waiting": rows,
    }, user=user)
