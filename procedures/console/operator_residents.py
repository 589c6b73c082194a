"""Operator pages for residents: look a wallet up (identity in the database, kind, level, expiry,
balance and freeze flag on chain, the lost-wallet recovery it took part in, the operator actions on
it), revoke the identity, freeze / unfreeze the wallet on the coin, and retry a recovery's failed
balance move.

The same domain code as the API: ``IdentityService.revoke`` (``/v1/identity/admin/revoke``),
``procedures.operator.freezes`` and ``procedures.operator.recoveries``
(``/v1/admin/wallets/{wallet}/…``); every chain call is queued through the relayer's outbox.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from procedures.addresses import checksum
from procedures.console.i18n import translator
from procedures.console.operator_forms import confirm_page, confirmed, operator_of, text_field
from procedures.console.pages import AdminDep, FormDep, lang_of, render
from procedures.deps import RuntimeDep, SessionDep
from procedures.errors import Conflict, InvalidRequest
from procedures.identity.errors import IdentityError, NoPendingRecovery
from procedures.identity.models import RevokeReason
from procedures.identity.routes import get_identity_service
from procedures.operator import freezes, recoveries, wallet_actions

router = APIRouter(prefix="/residents")

REASONS = [r.value for r in RevokeReason]


class IdentityRefused(Conflict):
    """An identity-domain refusal, shown on the page as a message."""

    code = "identity_refused"


def _page_url(wallet: str, done: str | None = None) -> str:
    return f"/console/admin/residents/{wallet}" + (f"?done={done}" if done else "")


@router.get("", response_class=HTMLResponse)
def lookup_page(request: Request, user: AdminDep) -> Response:
    """The wallet lookup form (``?wallet=`` goes to that wallet's page) and what the counter does."""
    wallet = request.query_params.get("wallet", "").strip()
    if wallet:
        return RedirectResponse(_page_url(checksum(wallet)), status_code=303)
    return render(request, "residents.html", {}, user=user)


@router.get("/{wallet}", response_class=HTMLResponse)
def resident_page(wallet: str, request: Request, session: SessionDep, runtime: RuntimeDep,
                  user: AdminDep) -> Response:
    """One wallet: identity (database), status and balance on chain, freeze, recovery, actions."""
    address = checksum(wallet)
    service = get_identity_service(request)
    return render(request, "resident.html", {
        "wallet": address, "identity": service.current(session, address), "chain": service.chain_status(address),
        "freeze": freezes.freeze_state(session, runtime, address), "recovery": recoveries.recovery_state(
            session, runtime, address), "actions": wallet_actions.history(session, address), "reasons": REASONS,
        "done": request.query_params.get("done"),
    }, user=user)


@router.post("/{wallet}/revoke", response_class=HTMLResponse)
def revoke(wallet: str, request: Request, session: SessionDep, user: AdminDep, form: FormDep) -> Response:
    """Revoke the wallet's identity with a reason (after a confirmation step)."""
    address = checksum(wallet)
    reason = str(form.get("reason", ""))
    if reason not in REASONS:
        raise InvalidRequest(f"choose the revocation reason ({', '.join(REASONS)})", param="reason")
    if not confirmed(form):
        shown = translator(lang_of(request))(f"rr_{reason}")
        return confirm_page(request, user, question="confirm_revoke", action=f"{_page_url(address)}/revoke",
                            fields={"reason": reason}, summary=[("wallet", address), ("reason", shown)],
                            cancel=_page_url(address), danger=True)
    try:
        get_identity_service(request).revoke(session, address, RevokeReason(reason),
                                             actor=str(user.account.id))
    except IdentityError as exc:
        raise IdentityRefused(exc.message, code=exc.code, param="wallet") from None
    return RedirectResponse(_page_url(address, "revoked"), status_code=303)


def _freeze_action(action: str, wallet: str, request: Request, session: SessionDep, runtime: RuntimeDep,
                   user: AdminDep, form: FormDep) -> Response:
    address = checksum(wallet)
    reason = text_field(form, "reason", max_length=freezes.MAX_REASON)
    if not confirmed(form):
        freezes.check(session, runtime, address, action)  # refusals come before the question
        return confirm_page(request, user, question=f"confirm_{action}", action=f"{_page_url(address)}/{action}",
                            fields={"reason": reason}, summary=[("wallet", address), ("reason", reason)],
                            cancel=_page_url(address), danger=action == "freeze")
    queue = freezes.freeze if action == "freeze" else freezes.unfreeze
    queue(session, runtime, address, reason=reason, operator=operator_of(user))
    return RedirectResponse(_page_url(address, action), status_code=303)


@router.post("/{wallet}/freeze", response_class=HTMLResponse)
def freeze(wallet: str, request: Request, session: SessionDep, runtime: RuntimeDep, user: AdminDep,
           form: FormDep) -> Response:
    """Freeze the wallet on the coin (after a confirmation step)."""
    return _freeze_action("freeze", wallet, request, session, runtime, user, form)


@router.post("/{wallet}/unfreeze", response_class=HTMLResponse)
def unfreeze(wallet: str, request: Request, session: SessionDep, runtime: RuntimeDep, user: AdminDep,
             form: FormDep) -> Response:
    """Lift the wallet's freeze (after a confirmation step)."""
    return _freeze_action("unfreeze", wallet, request, session, runtime, user, form)


@router.post("/{wallet}/actions/{action_id}/approve", response_class=HTMLResponse)
def approve_action(wallet: str, action_id: str, request: Request, session: SessionDep, runtime: RuntimeDep,
                   user: AdminDep, form: FormDep) -> Response:
    """A second staff member approves an unfreeze (four eyes; the one who asked for it is refused)."""
    freezes.approve_unfreeze(session, runtime, action_id, approver=operator_of(user))
    return RedirectResponse(_page_url(checksum(wallet), "unfreeze"), status_code=303)


@router.post("/{wallet}/recovery/cancel", response_class=HTMLResponse)
def cancel_recovery(wallet: str, request: Request, session: SessionDep, runtime: RuntimeDep, user: AdminDep,
                    form: FormDep) -> Response:
    """Cancel a pending recovery with the freezer's power (after a confirmation step), audited."""
    address = checksum(wallet)
    if not confirmed(form):
        state = recoveries.get_recovery(session, runtime, address)
        if state.identity_status != "recovering":
            raise NoPendingRecovery()
        summary = [("lost_wallet", state.lost_wallet), ("new_wallet", state.new_wallet)]
        return confirm_page(request, user, question="confirm_cancel_recovery",
                            action=f"{_page_url(address)}/recovery/cancel", fields={}, summary=summary,
                            cancel=_page_url(address), danger=True)
    recoveries.cancel(session, runtime, address, operator=operator_of(user))
    return RedirectResponse(_page_url(address, "recovery_cancel"), status_code=303)


@router.post("/{wallet}/recovery/retry", response_class=HTMLResponse)
def retry_recovery(wallet: str, request: Request, session: SessionDep, runtime: RuntimeDep, user: AdminDep,
                   form: FormDep) -> Response:
    """Retry a recovery's failed balance move (after a confirmation step)."""
    address = checksum(wallet)
    if not confirmed(form):
        state = recoveries.check_retry(session, runtime, address)
        summary = [("lost_wallet", state.lost_wallet), ("new_wallet", state.new_wallet),
                   ("lost_balance", f"¥{state.lost_balance:,}")]
        return confirm_page(request, user, question="confirm_retry_move",
                            action=f"{_page_url(address)}/recovery/retry", fields={}, summary=summary,
                            cancel=_page_url(address))
    recoveries.retry_balance_move(session, runtime, address, operator=operator_of(user))
    return RedirectResponse(_page_url(address, "recover_retry"), status_code=303)
