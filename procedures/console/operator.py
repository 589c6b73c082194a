"""Operator pages (admin role): counter top-ups with the campaign bonus shown before confirming.

Top-ups go through ``procedures.settlement.topups`` — the same checks as the API (verified resident,
not frozen, balance cap, minter allowance, one top-up per counter slip reference).
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chain.contracts.registry import Kind
from procedures.addresses import checksum, is_wallet
from procedures.console import (
    operator_merchants,
    operator_offline,
    operator_payouts,
    operator_points,
    operator_reports,
    operator_residents,
)
from procedures.console.operator_forms import operator_of
from procedures.console.pages import AdminDep, FormDep, render
from procedures.deps import RuntimeDep, SessionDep
from procedures.errors import InvalidRequest
from procedures.settlement import points, topups
from protocol.points import last_day

router = APIRouter(prefix="/console/admin", include_in_schema=False)
for _pages in (operator_merchants, operator_payouts, operator_residents, operator_offline, operator_reports,
               operator_points):
    router.include_router(_pages.router)

_REFERENCE = re.compile(r"^[A-Za-z0-9._:-]{1,80}$")


def _topup_input(form: dict[str, object]) -> tuple[str, int, str, str, str | None]:
    wallet = str(form.get("wallet", "")).strip()
    if not is_wallet(wallet):
        raise InvalidRequest("enter the resident's wallet address (0x…)", param="wallet")
    try:
        amount = int(str(form.get("amount", "")).replace(",", "").strip())
    except ValueError:
        raise InvalidRequest("enter the amount paid in yen", param="amount") from None
    if not 0 < amount <= 2_000_000:
        raise InvalidRequest("the amount must be between ¥1 and ¥2,000,000", param="amount")
    channel = str(form.get("channel", "counter"))
    if channel not in topups.CHANNELS:
        raise InvalidRequest("unknown channel", param="channel")
    reference = str(form.get("reference", "")).strip()
    if not _REFERENCE.match(reference):
        raise InvalidRequest("enter the counter slip number (letters, digits, . _ : -)", param="reference")
    location = str(form.get("location", "")).strip()[:80] or None
    return checksum(wallet), amount, channel, reference, location


@router.get("/topups", response_class=HTMLResponse)
def topup_page(request: Request, session: SessionDep, user: AdminDep) -> Response:
    recent = topups.list_topups(session, None, 20).rows
    return render(request, "topups.html", {"recent": recent, "channels": topups.CHANNELS}, user=user)


@router.post("/topups", response_class=HTMLResponse)
def topup(request: Request, session: SessionDep, runtime: RuntimeDep, user: AdminDep, form: FormDep) -> Response:
    wallet, amount, channel, reference, location = _topup_input(form)
    if form.get("confirm") != "yes":
        status = runtime.registry.status(wallet)
        bonus = topups.bonus_for(session, runtime, amount)
        until = last_day(points.expiry_for(runtime, runtime.settings.topup_bonus_expiry_days)).isoformat()
        return render(request, "topup_confirm.html", {
            "wallet": wallet, "amount": amount, "bonus": bonus, "bonus_until": until, "total": amount,
            "channel": channel,
            "reference": reference, "location": location or "",
            "verified": status.verified and status.kind is Kind.RESIDENT, "balance": runtime.coin.balance_of(wallet),
        }, user=user)
    receipt = topups.create_topup(session, runtime, wallet=wallet, amount=amount, channel=channel, location=location,
                                  reference=reference, operator=operator_of(user))
    return RedirectResponse(f"/console/admin/topups/{receipt.id}", status_code=303)


@router.post("/topups/{topup_id}/approve", response_class=HTMLResponse)
def approve_topup(topup_id: str, session: SessionDep, runtime: RuntimeDep, user: AdminDep,
                  form: FormDep) -> Response:
    """A second staff member approves a top-up over the four-eyes amount (the one who recorded it is refused)."""
    topups.approve_topup(session, runtime, topup_id, approver=operator_of(user))
    return RedirectResponse(f"/console/admin/topups/{topup_id}", status_code=303)


@router.get("/topups/{topup_id}", response_class=HTMLResponse)
def topup_receipt(topup_id: str, request: Request, session: SessionDep, user: AdminDep) -> Response:
    return render(request, "topup_receipt.html", {"t_up": topups.get_topup(session, topup_id)}, user=user)
