"""What city staff do with applications: see their department's queue, claim and assign, decide
(approve, reject, return for correction) and comment — each act signed with the staff member's own
key (EIP-712 ``StaffAct``); every read of personal data logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.applications import money, transitions
from procedures.applications.models import AccessLog, Application, ApplicationEvent, Status
from procedures.applications.records import (
    close,
    lock_application,
    notify,
    record_event,
    seal_details,
)
from procedures.applications.service.common import catalog, days, no_my_number, signing_domain
from procedures.auth.models import StaffAccount
from procedures.auth.service import Principal, staff_signer
from procedures.errors import Conflict, InvalidRequest, NotFound, PermissionDenied, ServiceError
from procedures.runtime import Runtime
from protocol import applications as protocol

log = logging.getLogger("machi.applications")

__all__ = [
    "AWAITING_THE_CITY",
    "MAX_CORRECTION_DAYS",
    "MAX_REASON",
    "MIN_REASON",
    "QueueFilter",
    "access_log",
    "assign",
    "audit_read",
    "can_access",
    "claim",
    "comment",
    "decide",
    "is_overdue",
    "overdue_condition",
    "queue",
    "staff_application",
    "staff_note",
]

MAX_CORRECTION_DAYS = 90
MIN_REASON = 3
MAX_REASON = 2000


# --------------------------------------------------------------------------- staff
def can_access(principal: Principal, department: str) -> bool:
    """Whether a staff member works applications of ``department`` (and may read their personal data)."""
    if principal.role == "admin":
        return True
    if principal.role == "supervisor":
        return principal.department is None or principal.department == department
    return principal.role == "clerk" and principal.department == department


def _staff_account(session: Session, principal: Principal) -> StaffAccount:
    account = session.get(StaffAccount, int(principal.subject))
    if account is None or not account.active:
        raise PermissionDenied("this staff account is disabled", code="account_disabled")
    return account


def staff_application(session: Session, principal: Principal, application_id: str, *,
                      lock: bool = False) -> Application:
    """An application a staff member may work on.

    Raises:
        NotFound: no such application.
        PermissionDenied: it is routed to another department (``other_department``).
    """
    application = lock_application(session, application_id) if lock else session.get(Application, application_id)
    if application is None:
        raise NotFound(f"no application {application_id}", param="id")
    if not can_access(principal, application.department):
        raise PermissionDenied(f"this application is routed to {application.department}", code="other_department")
    return application


def audit_read(session: Session, principal: Principal, application: Application, what: str) -> None:
    """Record that a staff member read personal data of ``application`` (append-only)."""
    session.add(AccessLog(application_id=application.id, staff_id=int(principal.subject), role=principal.role,
                          department=principal.department, what=what))


def _staff_event(session: Session, runtime: Runtime, principal: Principal, application: Application, *,
                 event: str, to_status: str | None, details: Mapping[str, Any],
                 public: Mapping[str, Any] | None = None) -> ApplicationEvent:
    """Record a staff act, signed (EIP-712 ``StaffAct``) with the staff member's own key."""
    account = _staff_account(session, principal)
    signer = staff_signer(session, runtime.vault, account)
    at = int(time.time())
    details_digest = protocol.details_hash(details)
    domain = signing_domain(runtime)
    typed = protocol.staff_act(domain["chainId"], domain["verifyingContract"], staff=signer.address, action=event,
                               application=application.id, seq=application.next_seq, details=details_digest, at=at)
    return record_event(
        session, application, type=event, to_status=to_status, actor_type="staff", actor_id=str(account.id),
        actor=signer.address, signature=protocol.sign_typed(signer, typed), content_hash=details_digest,
        sealed_details=seal_details(session, runtime.vault, application, details),
        public_details=public, occurred_at=at,
    )


def staff_note(session: Session, runtime: Runtime, principal: Principal, application_id: str, *, event: str,
               details: Mapping[str, Any], public: Mapping[str, Any] | None = None) -> ApplicationEvent:
    """A signed staff act another room takes on an application, status unchanged (a civic report's
    progress, review or merge), kept in its anchored history.

    Raises:
        NotFound, PermissionDenied: see ``staff_application``.
    """
    application = staff_application(session, principal, application_id, lock=True)
    return _staff_event(session, runtime, principal, application, event=event, to_status=None, details=details,
                        public=public)


def claim(session: Session, runtime: Runtime, principal: Principal, application_id: str) -> Application:
    """Take an application (new, or resubmitted) into review, assigned to the caller.

    Raises:
        NotFound, PermissionDenied: see ``staff_application``; a clerk cannot take over an application
            assigned to someone else (``not_assignee``).
        InvalidTransition: not waiting for review.
    """
    application = staff_application(session, principal, application_id, lock=True)
    me = int(principal.subject)
    transitions.check("claim", application.status, principal.role)
    if principal.role == "clerk" and application.assignee_id not in (None, me):
        raise PermissionDenied("this application is assigned to another clerk; ask a supervisor",
                               code="not_assignee")
    application.assignee_id = me
    _staff_event(session, runtime, principal, application, event="assigned", to_status=Status.IN_REVIEW,
                 details={"assignee": me, "by": me})
    return application


def assign(session: Session, runtime: Runtime, principal: Principal, application_id: str,
           assignee_id: int) -> Application:
    """A supervisor (or admin) assigns an application to a staff member of its department.

    Raises:
        InvalidRequest: the assignee does not exist, is disabled, or works another department.
        NotFound, PermissionDenied, InvalidTransition: as for ``claim``.
    """
    application = staff_application(session, principal, application_id, lock=True)
    transitions.check("assign", application.status, principal.role)
    assignee = session.get(StaffAccount, assignee_id)
    if assignee is None or not assignee.active:
        raise InvalidRequest(f"no active staff account {assignee_id}", code="unknown_assignee", param="assignee_id")
    assignee_principal = Principal(type="staff", subject=str(assignee.id), role=assignee.role,
                                   department=assignee.department)
    if not can_access(assignee_principal, application.department):
        raise InvalidRequest(f"{assignee.username} does not work {application.department} applications",
                             code="assignee_other_department", param="assignee_id")
    application.assignee_id = assignee.id
    _staff_event(session, runtime, principal, application, event="assigned", to_status=Status.IN_REVIEW,
                 details={"assignee": assignee.id, "by": int(principal.subject)})
    return application


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if len(text) < MIN_REASON:
        raise InvalidRequest("a reason is required", code="reason_required", param="reason")
    if len(text) > MAX_REASON:
        raise InvalidRequest(f"the reason may be at most {MAX_REASON} characters", param="reason")
    no_my_number(text, "reason")
    return text


def decide(session: Session, runtime: Runtime, principal: Principal, application_id: str, action: str, *,
           reason: str | None = None, correction_deadline: datetime | None = None) -> Application:
    """Approve, reject or return an application for correction, signed by the deciding staff member.

    * approve: the fee (if any) must have settled; the benefit (if any) is minted once.
    * reject: ``reason`` required; a settled fee is refunded from the treasury.
    * return: ``reason`` and a future ``correction_deadline`` required; the resident is notified.

    Raises:
        InvalidRequest: a required reason or deadline is missing or out of range.
        Conflict: the fee has not settled (``fee_not_paid``).
        NotFound, PermissionDenied, InvalidTransition: see ``transitions.check``.
    """
    if action not in ("approve", "reject", "return"):
        raise InvalidRequest(f"unknown decision {action!r}", param="action")
    application = staff_application(session, principal, application_id, lock=True)
    transition = transitions.check(action, application.status, principal.role,
                                   is_assignee=application.assignee_id == int(principal.subject))
    now = utcnow()
    procedure = catalog(runtime).find(application.procedure_code)
    if action == "approve":
        if application.fee and application.fee_status != "paid":
            raise Conflict(f"the fee is {application.fee_status}, not paid; the application cannot be approved yet",
                           code="fee_not_paid")
        details: dict[str, Any] = {"decision": "approved", "reason": (reason or "").strip() or None}
        if details["reason"]:
            no_my_number(details["reason"], "reason")
        public: dict[str, Any] = {"benefit": application.benefit}
    elif action == "reject":
        details = {"decision": "rejected", "reason": _reason(reason)}
        public = {"refund": application.fee}
    else:
        text = _reason(reason)
        if correction_deadline is None:
            raise InvalidRequest("a correction deadline is required", code="deadline_required",
                                 param="correction_deadline")
        if correction_deadline.tzinfo is None:
            raise InvalidRequest("give the deadline with a timezone", param="correction_deadline")
        if not now + timedelta(hours=1) <= correction_deadline <= now + days(MAX_CORRECTION_DAYS):
            raise InvalidRequest(f"the deadline must be between 1 hour and {MAX_CORRECTION_DAYS} days ahead",
                                 code="invalid_deadline", param="correction_deadline")
        deadline_iso = correction_deadline.isoformat()
        details = {"decision": "returned", "reason": text, "correction_deadline": deadline_iso}
        public = {"correction_deadline": deadline_iso}
        application.correction_deadline = correction_deadline
    _staff_event(session, runtime, principal, application, event=transition.event, to_status=transition.target,
                 details=details, public=public)
    if action == "return":
        notify(session, application, "returned", correction_deadline=public["correction_deadline"])
        return application
    application.decided_at = now
    close(application, procedure, now)
    if action == "approve":
        money.pay_benefit(session, runtime, application, procedure.benefit_expiry_days if procedure else None)
        notify(session, application, "approved", benefit=application.benefit)
    else:
        try:
            with session.begin_nested():  # a refund that cannot go now must not block the rejection
                money.refund_fee(session, runtime, application)
        except ServiceError as exc:
            log.warning("refund for %s deferred to the sweeper: %s", application.id, exc.message)
        notify(session, application, "rejected", refund=application.fee if application.fee_status != "none" else 0)
    return application


def comment(session: Session, runtime: Runtime, principal: Principal, application_id: str,
            text: str) -> ApplicationEvent:
    """An internal note on an application, signed and kept in its history (status unchanged).

    Raises:
        InvalidRequest: empty or too long, or it holds a My Number.
        NotFound, PermissionDenied: see ``staff_application``.
    """
    body = (text or "").strip()
    if not body or len(body) > MAX_REASON:
        raise InvalidRequest(f"a comment has 1 to {MAX_REASON} characters", param="text")
    no_my_number(body, "text")
    application = staff_application(session, principal, application_id, lock=True)
    if application.erased_at is not None:
        raise Conflict("this application was erased", code="record_erased")
    return _staff_event(session, runtime, principal, application, event="commented", to_status=None,
                        details={"comment": body})


@dataclass(frozen=True)
class QueueFilter:
    """Queue filters: department, status, assignee (``me``, ``none`` or a staff id), overdue."""

    department: str | None = None
    status: str | None = None
    assignee: str | None = None
    overdue: bool | None = None


#: The statuses in which the city owes an answer (an application can be overdue).
AWAITING_THE_CITY = (Status.SUBMITTED, Status.IN_REVIEW, Status.RESUBMITTED)


def queue(session: Session, principal: Principal, filters: QueueFilter, limit: int,
          starting_after: str | None, newest_first: bool = False) -> list[Application]:
    """Applications a staff member may work, oldest (or newest) first, cursor-paginated by id.

    Clerks (and supervisors with a department) see their department only.

    Raises:
        PermissionDenied: asking for another department's queue.
        InvalidRequest: a bad filter or cursor.
    """
    query = select(Application)
    department = filters.department
    if principal.role != "admin" and principal.department is not None:
        if department is not None and department != principal.department:
            raise PermissionDenied(f"you work {principal.department} applications", code="other_department",
                                   param="department")
        department = principal.department
    elif principal.role == "clerk":
        raise PermissionDenied("a clerk without a department has no queue", code="other_department")
    if department is not None:
        query = query.where(Application.department == department)
    if filters.status is not None:
        if filters.status not in set(Status):
            raise InvalidRequest(f"unknown status {filters.status!r}", param="status")
        query = query.where(Application.status == filters.status)
    if filters.assignee is not None:
        if filters.assignee == "me":
            query = query.where(Application.assignee_id == int(principal.subject))
        elif filters.assignee == "none":
            query = query.where(Application.assignee_id.is_(None))
        elif filters.assignee.isdigit() and len(filters.assignee) < 10:
            query = query.where(Application.assignee_id == int(filters.assignee))
        else:
            raise InvalidRequest("assignee is 'me', 'none' or a staff id", param="assignee")
    if filters.overdue is not None:
        query = query.where(overdue_condition() if filters.overdue else ~overdue_condition())
    if starting_after:
        cursor = session.get(Application, starting_after)
        if cursor is None:
            raise InvalidRequest("unknown cursor", param="starting_after")
        if newest_first:
            query = query.where(or_(Application.submitted_at < cursor.submitted_at,
                                    (Application.submitted_at == cursor.submitted_at) & (Application.id < cursor.id)))
        else:
            query = query.where(or_(Application.submitted_at > cursor.submitted_at,
                                    (Application.submitted_at == cursor.submitted_at) & (Application.id > cursor.id)))
    order = ((Application.submitted_at.desc(), Application.id.desc()) if newest_first
             else (Application.submitted_at, Application.id))
    return list(session.scalars(query.order_by(*order).limit(limit)))


def overdue_condition() -> ColumnElement[bool]:
    """SQL for ``is_overdue``: past the processing deadline while the city still owes an answer."""
    return (Application.due_at < utcnow()) & Application.status.in_(AWAITING_THE_CITY)


def is_overdue(application: Application) -> bool:
    """Past its processing deadline while the city still owes an answer."""
    return application.status in AWAITING_THE_CITY and application.due_at < utcnow()


def access_log(session: Session, application: Application) -> list[AccessLog]:
    """Every recorded read of the application's personal data, oldest first."""
    return list(session.scalars(select(AccessLog).where(AccessLog.application_id == application.id)
                                .order_by(AccessLog.id)))
