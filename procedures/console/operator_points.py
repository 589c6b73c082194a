"""Operator page for points: the top-up campaign (premium rate, budget and what it has given, end, how long its
points last), how long benefits last as points (the city's default and each catalog entry's), the points key's
remaining allowance, and the fund on chain (its coins, how many back unswept points, how many are free).

Read-only: the campaign is configured in the service's settings (``MACHI_TOPUP_BONUS_*``, ``MACHI_POINTS_*``) and
benefits in the catalog; the fund moves only by the coin's own rules (credits, payments, sweeps).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from procedures.applications.service import catalog
from procedures.console.pages import AdminDep, render
from procedures.deps import RuntimeDep, SessionDep
from procedures.settlement import points, topups

router = APIRouter(prefix="/points")


@router.get("", response_class=HTMLResponse)
def points_page(request: Request, session: SessionDep, runtime: RuntimeDep, user: AdminDep) -> Response:
    """The campaign, the benefits' expiry and the fund."""
    s = runtime.settings
    granted = topups.granted_bonus(session)
    benefits = [(p.code, p.title, p.benefit, p.benefit_expiry_days or s.points_expiry_days)
                for p in catalog(runtime) if p.benefit]
    return render(request, "points.html", {
        "bps": s.topup_bonus_bps, "budget": s.topup_bonus_budget, "granted": granted,
        "left": max(0, s.topup_bonus_budget - granted), "ends_at": s.topup_bonus_ends_at,
        "bonus_days": s.topup_bonus_expiry_days, "default_days": s.points_expiry_days,
        "notice_days": s.points_notice_days, "benefits": benefits, "allowance": points.points_budget(runtime),
        "fund": runtime.coin.points_fund(),
    }, user=user)
