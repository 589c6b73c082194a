"""Operator pages for payouts: the payouts waiting for a bank transfer, exporting them as a Zengin
file, downloading the file, and marking a batch transferred (``payout.paid`` to each merchant).

Everything goes through ``procedures.settlement.payouts``, as the admin API (``/v1/admin/payouts``,
``/v1/admin/payout_batches``) does.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from procedures.console.operator_forms import confirm_page, confirmed, operator_of
from procedures.console.pages import AdminDep, FormDep, render
from procedures.deps import RuntimeDep, SessionDep
from procedures.errors import InvalidRequest
from procedures.merchants.models import Merchant
from procedures.settlement import payouts
from procedures.settlement.models import Payout, PayoutBatch
from procedures.zengin import ENCODING

router = APIRouter(prefix="/payouts")

LIST_LIMIT = 200


def _names(session: Session, rows: list[Payout]) -> dict[str, str]:
    ids = {p.merchant_id for p in rows}
    return {m.id: m.business_name for m in session.query(Merchant).filter(Merchant.id.in_(ids))} if ids else {}


@router.get("", response_class=HTMLResponse)
def payouts_page(request: Request, session: SessionDep, runtime: RuntimeDep, user: AdminDep) -> Response:
    """Payouts waiting for a bank transfer, the export form and the batches."""
    redeemed = payouts.list_payouts(session, None, limit=LIST_LIMIT, starting_after=None, status="redeemed")
    waiting = [p for p in redeemed.rows if p.batch_id is None]
    return render(request, "payouts.html", {
        "waiting": waiting, "names": _names(session, waiting), "batches": payouts.list_batches(session, 50).rows,
        "today": runtime.settings.clock.today().isoformat(),
    }, user=user)


def _transfer_date(text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequest("give the transfer date as YYYY-MM-DD", param="transfer_date") from None


@router.post("/batches")
def export(session: SessionDep, runtime: RuntimeDep, user: AdminDep, form: FormDep) -> Response:
    """Export every waiting payout into a new Zengin batch."""
    when = _transfer_date(str(form.get("transfer_date", "")))
    batch, _, _ = payouts.export_batch(session, runtime, when, operator_of(user))
    return RedirectResponse(f"/console/admin/payouts/batches/{batch.id}?done=exported", status_code=303)


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(batch_id: str, request: Request, session: SessionDep, user: AdminDep) -> Response:
    """One batch: totals, its payouts, the download and the transferred action."""
    batch = payouts.get_batch(session, batch_id)
    rows = payouts.batch_payouts(session, batch.id)
    return render(request, "payout_batch.html", {
        "b": batch, "payouts": rows, "names": _names(session, rows), "done": request.query_params.get("done"),
    }, user=user)


def zengin_filename(batch: PayoutBatch) -> str:
    """``zengin_<batch>_<YYYYMMDD>.txt`` (as the admin API names it)."""
    return f"zengin_{batch.id}_{batch.transfer_date:%Y%m%d}.txt"


@router.get("/batches/{batch_id}/file")
def batch_file(batch_id: str, session: SessionDep, runtime: RuntimeDep, user: AdminDep) -> Response:
    """The batch's Zengin file as the bank takes it (Shift_JIS, fixed-width records)."""
    batch = payouts.get_batch(session, batch_id)
    return Response(payouts.batch_file(session, runtime, batch), media_type=f"text/plain; charset={ENCODING}",
                    headers={"Content-Disposition": f'attachment; filename="{zengin_filename(batch)}"',
                             "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.post("/batches/{batch_id}/transferred", response_class=HTMLResponse)
def transferred(batch_id: str, request: Request, runtime: RuntimeDep, session: SessionDep, user: AdminDep,
                form: FormDep) -> Response:
    """Mark a batch transferred (after a confirmation step): ``payout.paid`` to each merchant."""
    batch = payouts.get_batch(session, batch_id)
    if not confirmed(form):
        return confirm_page(request, user, question="confirm_transferred",
                            action=f"/console/admin/payouts/batches/{batch.id}/transferred", fields={},
                            summary=[("batch", batch.id), ("transfer_date", batch.transfer_date.isoformat()),
                                     ("count", batch.count), ("total", f"¥{batch.total_amount:,}")],
                            cancel=f"/console/admin/payouts/batches/{batch.id}")
    payouts.mark_transferred(session, runtime, batch.id)
    return RedirectResponse(f"/console/admin/payouts/batches/{batch.id}?done=transferred", status_code=303)
