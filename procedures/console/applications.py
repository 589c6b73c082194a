"""Console pages for e-applications: the queue, one application, claiming and decisions.

Every page goes through ``procedures.applications.service`` with the logged-in staff member as
the principal, so the same role and department rules (and the same audit of personal-data
reads) apply as on the API. Decisions take two steps: the form, then a confirmation page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from procedures.applications import service
from procedures.applications.models import AnchorBatch, Application, Status
from procedures.auth.service import Principal
from procedures.console.pages import ConsoleUser, FormDep, UserDep, department_name, lang_of, render
from procedures.deps import RuntimeDep, SessionDep
from procedures.errors import InvalidRequest
from protocol.forms import FieldRow, form_rows

router = APIRouter(prefix="/console/applications", include_in_schema=False)

PAGE = 25
#: The correction deadline the return form proposes, in the city's business days.
CORRECTION_BUSINESS_DAYS = 10


def principal_of(user: ConsoleUser) -> Principal:
    """The staff member as the services' principal."""
    account = user.account
    return Principal(type="staff", subject=str(account.id), role=account.role, department=account.department)


def _title(runtime: Any, code: str, lang: str) -> str:
    procedure = service.catalog(runtime).find(code)
    return procedure.title.get(lang, code) if procedure else code


def _form_rows(runtime: Any, application: Application, form: Any, lang: str) -> list[FieldRow] | None:
    """The answers labelled and worded by the procedure's JSON Schema (None once erased)."""
    if not isinstance(form, dict):
        return None
    procedure = service.catalog(runtime).find(application.procedure_code)
    return form_rows(procedure.form if procedure else {}, form, lang)


def money_effect(application: Application, action: str) -> tuple[str, int] | None:
    """What confirming ``action`` moves: ("benefit", amount) paid on approval, ("refund", fee) on rejection."""
    if action == "approve" and application.benefit > 0:
        return "benefit", application.benefit
    if action == "reject" and application.fee > 0 and application.fee_status in ("paid", "pending", "refund_failed"):
        return "refund", application.fee
    return None


@router.get("", response_class=HTMLResponse)
def queue_page(request: Request, session: SessionDep, runtime: RuntimeDep, user: UserDep) -> Response:
    params = request.query_params
    filters = service.QueueFilter(
        department=params.get("department") or None, status=params.get("status") or None,
        assignee=params.get("assignee") or None,
        overdue=True if params.get("overdue") == "1" else None,
    )
    rows = service.queue(session, principal_of(user), filters, PAGE + 1, params.get("starting_after") or None,
                         newest_first=params.get("sort") == "newest")
    has_more = len(rows) > PAGE
    rows = rows[:PAGE]
    lang = lang_of(request)
    items = [{
        "id": a.id, "title": _title(runtime, a.procedure_code, lang), "status": a.status,
        "department": department_name(runtime.settings, a.department, lang), "assignee": a.assignee_id,
        "submitted": a.submitted_at, "due": a.due_at,
        "overdue": service.is_overdue(a), "mine": a.assignee_id == user.account.id,
    } for a in rows]
    query = {k: v for k, v in params.items() if k != "starting_after"}
    return render(request, "queue.html", {
        "items": items, "filters": filters, "statuses": [s.value for s in Status], "sort": params.get("sort", ""),
        "departments": [(code, department_name(runtime.settings, code, lang))
                        for code in service.catalog(runtime).departments],
        "next": rows[-1].id if has_more and rows else None, "query": query,
    }, user=user)


@router.post("/{application_id}/claim")
def claim(application_id: str, session: SessionDep, runtime: RuntimeDep, user: UserDep, form: FormDep) -> Response:
    service.claim(session, runtime, principal_of(user), application_id)
    return RedirectResponse(f"/console/applications/{application_id}?done=claimed", status_code=303)


def _timeline(session: Session, application: Application) -> list[dict[str, Any]]:
    events = service.events_of(session, application)
    batches = {b.id: b for b in session.query(AnchorBatch).filter(
        AnchorBatch.id.in_({e.batch_id for e in events if e.batch_id is not None})).all()} if events else {}
    timeline = []
    for event in events:
        batch = batches.get(event.batch_id) if event.batch_id is not None else None
        timeline.append({
            "seq": event.seq, "type": event.type, "to_status": event.to_status, "actor_type": event.actor_type,
            "at": datetime.fromtimestamp(event.occurred_at, UTC), "leaf": event.leaf,
            "anchored": event.anchor_id is not None, "anchor_id": event.anchor_id,
            "tx_hash": batch.tx_hash if batch is not None else None,
        })
    return timeline


@router.get("/{application_id}", response_class=HTMLResponse)
def application_page(application_id: str, request: Request, session: SessionDep, runtime: RuntimeDep,
                     user: UserDep) -> Response:
    principal = principal_of(user)
    application = service.staff_application(session, principal, application_id)
    form = service.read_form(session, runtime.vault, application)
    service.audit_read(session, principal, application, "form")
    attachments = [{"position": i, "type": a.content_type, "size": a.size,
                    "name": service.attachment_name(session, runtime.vault, application, a)}
                   for i, a in enumerate(service.current_attachments(session, application))]
    correction = service.latest_details(session, runtime.vault, application, "returned")
    location = None
    if isinstance(form, dict):  # Open311-style reports carry lat/long at the top level
        lat, lon = form.get("lat"), form.get("long", form.get("lon"))
        if isinstance(lat, (int, float)) and isinstance(lon, (int, float)):
            location = {"lat": float(lat), "lon": float(lon)}
    lang = lang_of(request)
    return render(request, "application.html", {
        "a": application, "title": _title(runtime, application.procedure_code, lang), "form": form,
        "form_rows": _form_rows(runtime, application, form, lang),
        "department": department_name(runtime.settings, application.department, lang),
        "attachments": attachments, "timeline": _timeline(session, application), "location": location,
        "overdue": service.is_overdue(application), "correction": correction, "done": request.query_params.get("done"),
        "default_deadline": runtime.settings.clock.business_days_after(
            runtime.settings.clock.now(), CORRECTION_BUSINESS_DAYS).isoformat(),
        "final": Status(application.status).final,
    }, user=user)


@router.get("/{application_id}/attachments/{position}")
def attachment(application_id: str, position: int, session: SessionDep, runtime: RuntimeDep,
               user: UserDep) -> Response:
    principal = principal_of(user)
    application = service.staff_application(session, principal, application_id)
    files = service.current_attachments(session, application)
    if not 0 <= position < len(files):
        raise InvalidRequest("no such attachment", param="position")
    service.audit_read(session, principal, application, f"attachment:{position}")
    data = service.attachment_bytes(session, runtime.vault, application, files[position])
    return Response(data, media_type=files[position].content_type,
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                             "Content-Security-Policy": "default-src 'none'"})


@router.post("/{application_id}/decide", response_class=HTMLResponse)
def decide(application_id: str, request: Request, session: SessionDep, runtime: RuntimeDep, user: UserDep,
           form: FormDep) -> Response:
    action = str(form.get("action", ""))
    if action not in ("approve", "reject", "return", "comment"):
        raise InvalidRequest("unknown action", param="action")
    reason = str(form.get("reason", "")).strip() or None
    deadline_text = str(form.get("deadline", "")).strip()
    principal = principal_of(user)
    application = service.staff_application(session, principal, application_id)
    if action == "comment":
        service.comment(session, runtime, principal, application_id, reason or "")
        return RedirectResponse(f"/console/applications/{application_id}?done=commented", status_code=303)
    if form.get("confirm") != "yes":
        return render(request, "confirm.html", {"a": application, "action": action, "reason": reason,
                                                "deadline": deadline_text,
                                                "money": money_effect(application, action),
                                                "title": _title(runtime, application.procedure_code,
                                                                lang_of(request))}, user=user)
    deadline = None
    if action == "return":
        try:
            day = datetime.strptime(deadline_text, "%Y-%m-%d")
        except ValueError:
            raise InvalidRequest("give the correction deadline as a date", param="deadline") from None
        deadline = runtime.settings.clock.end_of_day(day.date())  # the end of that day in the city
    service.decide(session, runtime, principal, application_id, action, reason=reason,
                   correction_deadline=deadline)
    return RedirectResponse(f"/console/applications/{application_id}?done={action}", status_code=303)
