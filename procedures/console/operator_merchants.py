"""Operator pages for merchants: list, onboard (the first API key shown once), detail with the
masked bank account, suspend / reinstate, issue and revoke API keys.

Everything goes through ``procedures.merchants.accounts`` — the same functions as the admin API
(``/v1/admin/merchants``); the bank account is sealed by the domain code and only its masked form
reaches a page.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from procedures.console.operator_forms import confirm_page, confirmed, operator_of, text_field
from procedures.console.pages import AdminDep, ConsoleUser, FormDep, render
from procedures.deps import RuntimeDep, SessionDep
from procedures.merchants import accounts as merchants
from procedures.merchants import api_keys
from procedures.merchants.models import ApiKey, IdempotencyRecord, Merchant
from procedures.zengin import ACCOUNT_TYPES

router = APIRouter(prefix="/merchants")

LIST_LIMIT = 200
_BANK_FIELDS = ("bank_code", "branch_code", "account_type", "account_number", "holder_name_kana",
                "bank_name_kana", "branch_name_kana")


def _secret_page(request: Request, user: ConsoleUser, merchant: Merchant, key: ApiKey, secret: str,
                 heading: str) -> HTMLResponse:
    """The one page that ever shows an API key; never cached."""
    page = render(request, "merchant_key.html", {"m": merchant, "key": key, "secret": secret, "heading": heading},
                  status=201, user=user)
    page.headers["Cache-Control"] = "no-store"
    return page


@router.get("", response_class=HTMLResponse)
def merchants_page(request: Request, session: SessionDep, user: AdminDep) -> Response:
    """The merchants (status, business name, wallet) and the onboarding form."""
    rows = list(session.scalars(select(Merchant).order_by(Merchant.created_at.desc(), Merchant.id).limit(LIST_LIMIT)))
    return render(request, "merchants.html", {"merchants": rows, "account_types": list(ACCOUNT_TYPES),
                                              "form_token": secrets.token_urlsafe(16)}, user=user)


@router.post("", response_class=HTMLResponse)
def onboard(request: Request, session: SessionDep, runtime: RuntimeDep, user: AdminDep, form: FormDep) -> Response:
    """Onboard a merchant; the page shows its first API key, once.

    The form carries a one-off token: sending the same form again (a reload of the result page)
    leads to the merchant made the first time instead of onboarding it twice.
    """
    token = text_field(form, "form_token", max_length=64)
    owner = f"console:{user.account.id}"
    if token:
        earlier = session.scalar(select(IdempotencyRecord.body).where(IdempotencyRecord.owner == owner,
                                                                      IdempotencyRecord.key == token))
        if earlier is not None:
            return RedirectResponse(f"/console/admin/merchants/{earlier.decode()}?done=already_onboarded",
                                    status_code=303)
    business_name = text_field(form, "business_name", max_length=120, required=True,
                               message="enter the business name")
    display_name = text_field(form, "display_name", max_length=80)
    bank = {name: text_field(form, name, max_length=60) or "" for name in _BANK_FIELDS}
    assert business_name is not None
    merchant, key, secret = merchants.onboard(session, runtime, business_name=business_name,
                                              display_name=display_name, bank=merchants.BankAccount(**bank),
                                              operator=operator_of(user))
    if token:
        session.add(IdempotencyRecord(owner=owner, key=token, method="POST", path=request.url.path,
                                      fingerprint="console-form", status_code=303, body=merchant.id.encode()))
    return _secret_page(request, user, merchant, key, secret, "merchant_onboarded")


@router.get("/{merchant_id}", response_class=HTMLResponse)
def merchant_page(merchant_id: str, request: Request, session: SessionDep, runtime: RuntimeDep,
                  user: AdminDep) -> Response:
    """One merchant: status, masked bank account, API keys and actions."""
    merchant = merchants.get_merchant(session, merchant_id)
    bank = merchants.bank_account(session, runtime.vault, merchant).masked()
    return render(request, "merchant.html", {
        "m": merchant, "bank": bank, "keys": api_keys.list_keys(session, merchant.id), "scopes": api_keys.SCOPES,
        "done": request.query_params.get("done"),
    }, user=user)


@router.post("/{merchant_id}/suspend", response_class=HTMLResponse)
def suspend(merchant_id: str, request: Request, session: SessionDep, runtime: RuntimeDep, user: AdminDep,
            form: FormDep) -> Response:
    """Suspend a merchant (after a confirmation step)."""
    reason = text_field(form, "reason", max_length=500)
    merchant = merchants.get_merchant(session, merchant_id)
    if not confirmed(form):
        return confirm_page(request, user, question="confirm_suspend", action=f"/console/admin/merchants/{merchant.id}"
                            "/suspend", fields={"reason": reason}, summary=_summary(merchant, ("reason", reason)),
                            cancel=f"/console/admin/merchants/{merchant.id}", danger=True)
    merchants.suspend(session, runtime, merchant.id, reason)
    return RedirectResponse(f"/console/admin/merchants/{merchant.id}?done=suspended", status_code=303)


@router.post("/{merchant_id}/reinstate", response_class=HTMLResponse)
def reinstate(merchant_id: str, request: Request, session: SessionDep, runtime: RuntimeDep, user: AdminDep,
              form: FormDep) -> Response:
    """Lift a suspension (after a confirmation step)."""
    merchant = merchants.get_merchant(session, merchant_id)
    if not confirmed(form):
        return confirm_page(request, user, question="confirm_reinstate",
                            action=f"/console/admin/merchants/{merchant.id}/reinstate", fields={},
                            summary=_summary(merchant), cancel=f"/console/admin/merchants/{merchant.id}")
    merchants.reinstate(session, runtime, merchant.id)
    return RedirectResponse(f"/console/admin/merchants/{merchant.id}?done=reinstated", status_code=303)


@router.post("/{merchant_id}/api_keys", response_class=HTMLResponse)
def issue_key(merchant_id: str, request: Request, session: SessionDep, runtime: RuntimeDep, user: AdminDep,
              form: FormDep) -> Response:
    """Issue an API key with the ticked scopes; the page shows it, once."""
    merchant = merchants.get_merchant(session, merchant_id)
    name = text_field(form, "name", max_length=80) or "issued by the city"
    scopes = [scope for scope in api_keys.SCOPES if form.get(f"scope.{scope}")]
    key, secret = api_keys.issue_key(session, runtime.settings, merchant, name=name, scopes=scopes,
                                      created_by=operator_of(user))
    return _secret_page(request, user, merchant, key, secret, "api_key_issued")


@router.post("/{merchant_id}/api_keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_key(merchant_id: str, key_id: str, request: Request, session: SessionDep, user: AdminDep,
               form: FormDep) -> Response:
    """Revoke one API key (after a confirmation step)."""
    merchant = merchants.get_merchant(session, merchant_id)
    key = api_keys.get_key(session, merchant.id, key_id)
    if not confirmed(form):
        return confirm_page(request, user, question="confirm_revoke_key",
                            action=f"/console/admin/merchants/{merchant.id}/api_keys/{key.id}/revoke", fields={},
                            summary=_summary(merchant, ("key_name", key.name), ("key_prefix", key.prefix + "…")),
                            cancel=f"/console/admin/merchants/{merchant.id}", danger=True)
    api_keys.revoke_key(session, merchant.id, key.id)
    return RedirectResponse(f"/console/admin/merchants/{merchant.id}?done=key_revoked", status_code=303)


def _summary(merchant: Merchant, *extra: tuple[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [("merchant", f"{merchant.business_name} ({merchant.id})"),
                                   ("merchant_wallet", merchant.wallet)]
    return rows + [row for row in extra if row[1]]
