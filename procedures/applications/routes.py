"""E-application endpoints: the catalog, residents' applications, and the clerks' approval API.

Attachments travel base64-encoded inside the JSON body (``attachments[].data``), so one request
carries the answers, the files, the wallet's signature over their content hash and the fee
authorization — and is accepted or refused as a whole.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from sqlalchemy import select

from chain.storage import utcnow
from procedures.applications import anchoring, service
from procedures.applications.catalog import Catalog
from procedures.applications.models import Application, Attachment, Notification
from procedures.applications.schemas import (
    AccessLogOut,
    ApplicationOut,
    ApplicationSummary,
    AssignIn,
    CommentIn,
    DecisionIn,
    NotificationOut,
    ProcedureOut,
    ResubmissionIn,
    ReturnIn,
    SigningOut,
    SubmissionIn,
    WithdrawalIn,
    detail,
    notification_out,
    summary,
)
from procedures.auth.service import Principal
from procedures.crypto import CryptoError
from procedures.deps import ResidentPrincipal, RuntimeDep, SessionDep, StaffPrincipal, require_role
from procedures.errors import Conflict
from procedures.pagination import CursorQuery, LimitQuery, Page, Window, page_of
from procedures.rows import row_or_404
from procedures.runtime import Runtime
from procedures.transfers import custodial
from protocol import applications as protocol

router = APIRouter()
residents = APIRouter(prefix="/v1", tags=["applications"])
clerks = APIRouter(prefix="/v1/clerk", tags=["clerk"])

class Gone(Conflict):
    """The record was erased (crypto-erasure at the end of retention)."""

    status = 410
    code = "record_erased"


SeniorPrincipal = Annotated[Principal, Depends(require_role("supervisor", "admin"))]


def _catalog(runtime: Runtime) -> Catalog:
    return service.catalog(runtime)



# --------------------------------------------------------------------------- catalog
@residents.get("/procedures", summary="The procedure catalog")
def list_procedures(runtime: RuntimeDep) -> Page[ProcedureOut]:
    """Every procedure residents can file (without the form schemas)."""
    entries = [ProcedureOut.of(p, with_form=False) for p in _catalog(runtime)]
    return Page(data=entries, has_more=False)


@residents.get("/procedures/signing", summary="What wallets sign procedure acts with")
def signing(runtime: RuntimeDep, session: SessionDep) -> SigningOut:
    """The EIP-712 domain (chain id, ProcedureLedger), the act types, and the fee treasury."""
    domain = service.signing_domain(runtime)
    return SigningOut(chain_id=domain["chainId"], ledger=domain["verifyingContract"], domain=domain,
                      types={"ResidentAct": protocol.RESIDENT_ACT_TYPES}, treasury=custodial.treasury_address(session))


@residents.get("/procedures/{code}", summary="One procedure, with its form schema")
def get_procedure(code: str, runtime: RuntimeDep) -> ProcedureOut:
    """The catalog entry, including the versioned JSON Schema of its form."""
    return ProcedureOut.of(_catalog(runtime).get(code), with_form=True)


# --------------------------------------------------------------------------- residents
@residents.post("/applications", status_code=status.HTTP_201_CREATED, summary="File an application")
def create_application(body: SubmissionIn, runtime: RuntimeDep, session: SessionDep,
                       principal: ResidentPrincipal) -> ApplicationOut:
    """Validate, check the wallet's signature and identity level, accept the fee, record the submission."""
    application = service.submit(
        session, runtime, wallet=str(principal.wallet), procedure_code=body.procedure, version=body.version,
        form=body.form, attachments=[a.to_upload() for a in body.attachments], salt=body.salt.lower(),
        signed=body.signature.to_signed(),
        payment=body.payment.to_authorization() if body.payment is not None else None,
    )
    return _own_detail(session, runtime, application)


def _own_detail(session: SessionDep, runtime: Runtime, application: Application) -> ApplicationOut:
    return detail(session, runtime.vault, _catalog(runtime), application, readable=True, role="resident",
                  is_assignee=False, staff=False)


@residents.get("/applications", summary="My applications, newest first")
def list_applications(runtime: RuntimeDep, session: SessionDep, principal: ResidentPrincipal,
                      limit: LimitQuery = 20, starting_after: CursorQuery = None,
                      status_: Annotated[str | None, Query(alias="status", max_length=16)] = None,
                      ) -> Page[ApplicationSummary]:
    """Cursor-paginated; filter by status."""
    rows = service.own_applications(session, str(principal.wallet), limit + 1, starting_after, status_)
    procedures = _catalog(runtime)
    return page_of(Window.cut(rows, limit), lambda application: summary(procedures, application))


@residents.get("/applications/{application_id}", summary="One of my applications")
def get_application(application_id: str, runtime: RuntimeDep, session: SessionDep,
                    principal: ResidentPrincipal) -> ApplicationOut:
    """Status, answers, files, history, and any correction request or decision."""
    return _own_detail(session, runtime, service.own_application(session, application_id, str(principal.wallet)))


@residents.get("/applications/{application_id}/attachments/{attachment_id}", summary="Download one of my files",
               response_class=Response)
def get_own_attachment(application_id: str, attachment_id: str, runtime: RuntimeDep, session: SessionDep,
                       principal: ResidentPrincipal) -> Response:
    """The file's bytes (410 once the record was erased)."""
    application = service.own_application(session, application_id, str(principal.wallet))
    return _attachment_response(session, runtime, application, attachment_id)


@residents.post("/applications/{application_id}/withdraw", summary="Withdraw my application")
def withdraw_application(application_id: str, body: WithdrawalIn, runtime: RuntimeDep, session: SessionDep,
                         principal: ResidentPrincipal) -> ApplicationOut:
    """Before a decision only; signed by the wallet."""
    application = service.withdraw(session, runtime, wallet=str(principal.wallet), application_id=application_id,
                                   signed=body.signature.to_signed())
    return _own_detail(session, runtime, application)


@residents.post("/applications/{application_id}/resubmit", summary="Answer a correction request (補正)")
def resubmit_application(application_id: str, body: ResubmissionIn, runtime: RuntimeDep, session: SessionDep,
                         principal: ResidentPrincipal) -> ApplicationOut:
    """Corrected answers (and files), signed again, before the correction deadline."""
    application = service.resubmit(
        session, runtime, wallet=str(principal.wallet), application_id=application_id, form=body.form,
        attachments=None if body.attachments is None else [a.to_upload() for a in body.attachments],
        salt=body.salt.lower(), signed=body.signature.to_signed(),
    )
    return _own_detail(session, runtime, application)


@residents.get("/applications/{application_id}/receipt", summary="The verifiable receipt of my application")
def get_receipt(application_id: str, runtime: RuntimeDep, session: SessionDep,
                principal: ResidentPrincipal) -> dict[str, object]:
    """Every event's opening, leaf, Merkle proof and anchoring transaction (verify with the chain alone)."""
    application = service.own_application(session, application_id, str(principal.wallet))
    return anchoring.receipt(session, runtime, application)


@residents.get("/notifications", summary="My notifications, newest first")
def list_notifications(session: SessionDep, principal: ResidentPrincipal, limit: LimitQuery = 20,
                       starting_after: Annotated[int | None, Query(ge=1, lt=2**31)] = None,
                       unread: bool = False) -> Page[NotificationOut]:
    """News about my applications (status changes, payments, deadlines)."""
    query = select(Notification).where(Notification.wallet == principal.wallet)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    if starting_after is not None:
        query = query.where(Notification.id < starting_after)
    rows = list(session.scalars(query.order_by(Notification.id.desc()).limit(limit + 1)))
    data = [notification_out(r) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(data=data, has_more=more, next_cursor=str(data[-1].id) if more and data else None)


@residents.post("/notifications/{notification_id}/read", summary="Mark a notification read")
def read_notification(notification_id: Annotated[int, Path(ge=1, lt=2**31)], session: SessionDep,
                      principal: ResidentPrincipal) -> NotificationOut:
    """Idempotent."""
    row = row_or_404(session, Notification, notification_id, what="notification",
                     visible=lambda n: n.wallet == principal.wallet)
    if row.read_at is None:
        row.read_at = utcnow()
    return notification_out(row)


# --------------------------------------------------------------------------- clerks
def _staff_detail(session: SessionDep, runtime: Runtime, principal: Principal,
                  application: Application) -> ApplicationOut:
    readable = service.can_access(principal, application.department)
    if readable and application.erased_at is None:
        service.audit_read(session, principal, application, "record")
    return detail(session, runtime.vault, _catalog(runtime), application, readable=readable, role=principal.role,
                  is_assignee=application.assignee_id == int(principal.subject), staff=True)


@clerks.get("/applications", summary="The queue")
def clerk_queue(runtime: RuntimeDep, session: SessionDep, principal: StaffPrincipal, limit: LimitQuery = 20,
                starting_after: CursorQuery = None,
                department: Annotated[str | None, Query(max_length=64)] = None,
                status_: Annotated[str | None, Query(alias="status", max_length=16)] = None,
                assignee: Annotated[str | None, Query(max_length=16, description="me, none or a staff id")] = None,
                overdue: bool | None = None) -> Page[ApplicationSummary]:
    """Oldest first; filters: department, status, assignee, overdue. Metadata only."""
    filters = service.QueueFilter(department=department, status=status_, assignee=assignee, overdue=overdue)
    rows = service.queue(session, principal, filters, limit + 1, starting_after)
    procedures = _catalog(runtime)
    return page_of(Window.cut(rows, limit), lambda application: summary(procedures, application))


@clerks.get("/applications/{application_id}", summary="View an application")
def clerk_view(application_id: str, runtime: RuntimeDep, session: SessionDep,
               principal: StaffPrincipal) -> ApplicationOut:
    """Answers and files only for staff of the routed department (the read is audited)."""
    application = row_or_404(session, Application, application_id, what="application")
    return _staff_detail(session, runtime, principal, application)


@clerks.get("/applications/{application_id}/attachments/{attachment_id}", summary="Download a file",
            response_class=Response)
def clerk_attachment(application_id: str, attachment_id: str, runtime: RuntimeDep, session: SessionDep,
                     principal: StaffPrincipal) -> Response:
    """Staff of the routed department only; audited."""
    application = service.staff_application(session, principal, application_id)
    response = _attachment_response(session, runtime, application, attachment_id)
    service.audit_read(session, principal, application, f"attachment:{attachment_id}")
    return response


@clerks.post("/applications/{application_id}/claim", summary="Take an application into review")
def clerk_claim(application_id: str, runtime: RuntimeDep, session: SessionDep,
                principal: StaffPrincipal) -> ApplicationOut:
    """Assigns it to the caller (submitted or resubmitted → in_review)."""
    application = service.claim(session, runtime, principal, application_id)
    return _staff_detail(session, runtime, principal, application)


@clerks.post("/applications/{application_id}/assign", summary="Assign an application (supervisors)")
def clerk_assign(application_id: str, body: AssignIn, runtime: RuntimeDep, session: SessionDep,
                 principal: SeniorPrincipal) -> ApplicationOut:
    """To a staff member of the routed department."""
    application = service.assign(session, runtime, principal, application_id, body.assignee_id)
    return _staff_detail(session, runtime, principal, application)


@clerks.post("/applications/{application_id}/approve", summary="Approve")
def clerk_approve(application_id: str, body: DecisionIn, runtime: RuntimeDep, session: SessionDep,
                  principal: StaffPrincipal) -> ApplicationOut:
    """Signed by the caller's key; pays the benefit, if any, exactly once."""
    application = service.decide(session, runtime, principal, application_id, "approve", reason=body.reason)
    return _staff_detail(session, runtime, principal, application)


@clerks.post("/applications/{application_id}/reject", summary="Reject (reason required)")
def clerk_reject(application_id: str, body: DecisionIn, runtime: RuntimeDep, session: SessionDep,
                 principal: StaffPrincipal) -> ApplicationOut:
    """Signed by the caller's key; refunds a paid fee."""
    application = service.decide(session, runtime, principal, application_id, "reject", reason=body.reason)
    return _staff_detail(session, runtime, principal, application)


@clerks.post("/applications/{application_id}/return", summary="Return for correction (補正)")
def clerk_return(application_id: str, body: ReturnIn, runtime: RuntimeDep, session: SessionDep,
                 principal: StaffPrincipal) -> ApplicationOut:
    """Reason and deadline required; the resident is notified."""
    application = service.decide(session, runtime, principal, application_id, "return", reason=body.reason,
                                 correction_deadline=body.correction_deadline)
    return _staff_detail(session, runtime, principal, application)


@clerks.post("/applications/{application_id}/comments", status_code=status.HTTP_201_CREATED,
             summary="Add an internal comment")
def clerk_comment(application_id: str, body: CommentIn, runtime: RuntimeDep, session: SessionDep,
                  principal: StaffPrincipal) -> ApplicationOut:
    """Signed and kept in the application's history; the status does not change."""
    service.comment(session, runtime, principal, application_id, body.text)
    application = service.staff_application(session, principal, application_id)
    return _staff_detail(session, runtime, principal, application)


@clerks.get("/applications/{application_id}/access-log", summary="Who read this application (supervisors)")
def clerk_access_log(application_id: str, session: SessionDep, principal: SeniorPrincipal) -> list[AccessLogOut]:
    """Every read of the application's personal data."""
    application = service.staff_application(session, principal, application_id)
    return [AccessLogOut(id=r.id, staff_id=r.staff_id, role=r.role, department=r.department, what=r.what, at=r.at)
            for r in service.access_log(session, application)]


@clerks.get("/applications/{application_id}/receipt", summary="The verifiable receipt of an application")
def clerk_receipt(application_id: str, runtime: RuntimeDep, session: SessionDep,
                  principal: StaffPrincipal) -> dict[str, object]:
    """As the resident gets it (openings contain hashes and salts, no personal data)."""
    application = service.staff_application(session, principal, application_id)
    return anchoring.receipt(session, runtime, application)


def _attachment_response(session: SessionDep, runtime: Runtime, application: Application,
                         attachment_id: str) -> Response:
    attachment = row_or_404(session, Attachment, attachment_id, what="attachment", param="attachment_id",
                            visible=lambda a: a.application_id == application.id)
    if application.erased_at is not None:
        raise Gone("this application's data was erased at the end of its retention period")
    try:
        data = service.attachment_bytes(session, runtime.vault, application, attachment)
    except CryptoError as exc:
        raise Gone(str(exc)) from None
    return Response(content=data, media_type=attachment.content_type,
                    headers={"X-Content-SHA256": attachment.sha256, "Cache-Control": "no-store"})


router.include_router(residents)
router.include_router(clerks)

__all__ = ["router"]
