"""What the road and snow departments do with civic reports: review what may be public, move the status
(``acknowledged`` → ``in_progress`` → ``closed``), merge duplicates, and reward the residents who reported.

Each act is the application's own: acknowledging claims it, closing decides it (fixed → approved,
not actionable → rejected), progress, reviews and merges are signed staff notes — all in its anchored
history. A merged report follows the one it was merged into; closing that one closes all of them.

The reward for a confirmed report of a linked resident is a points credit by the points key (the path
benefits and top-up premiums take, ``procedures.settlement.points``: on chain a reward looks like any
benefit or premium, and nothing tells which procedure paid it), enqueued once per report (the outbox
reference) when a clerk acknowledges the report.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chain.outbox import IntentStatus, TxIntent
from chain.storage import utcnow
from procedures.applications import service as applications
from procedures.applications.models import Application, Status
from procedures.auth.service import Principal
from procedures.civic import reports
from procedures.civic.models import CivicReport, CivicStatus, Resolution
from procedures.civic.reports import REPORTED
from procedures.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from procedures.runtime import Runtime
from procedures.settlement import points
from protocol import applications as protocol

log = logging.getLogger("machi.civic")

REWARD_KIND = "civic_reward"
REWARD_REFERENCE = "civic-reward:"
MAX_DESCRIPTION = 1000


def clerk_report(session: Session, principal: Principal, report_id: str, *, lock: bool = False) -> CivicReport:
    """A report of a department the staff member works.

    Raises:
        NotFound: no such report.
        PermissionDenied: another department's (``other_department``).
    """
    query = select(CivicReport).where(CivicReport.id == report_id)
    report = session.scalar(query.with_for_update() if lock else query)
    if report is None:
        raise NotFound(f"no civic report {report_id}", param="id")
    if not applications.can_access(principal, report.department):
        raise PermissionDenied(f"this report is routed to {report.department}", code="other_department")
    return report


def clerk_reports(session: Session, principal: Principal, *, status: str | None = None,
                  limit: int = 500) -> list[CivicReport]:
    """The reports of the caller's department (all departments for admins), newest first.

    Raises:
        PermissionDenied: a clerk without a department.
        InvalidRequest: an unknown status.
    """
    query = select(CivicReport)
    if principal.role != "admin" and principal.department is not None:
        query = query.where(CivicReport.department == principal.department)
    elif principal.role == "clerk":
        raise PermissionDenied("a clerk without a department has no queue", code="other_department")
    if status is not None:
        if status not in set(CivicStatus):
            raise InvalidRequest(f"unknown status {status!r}", param="status")
        query = query.where(CivicReport.status == status)
    return list(session.scalars(query.order_by(CivicReport.requested_at.desc(), CivicReport.id.desc()).limit(limit)))


def exact_form(session: Session, runtime: Runtime, report: CivicReport) -> dict[str, Any] | None:
    """The report's sealed answers (exact point, description) for its clerks; ``None`` once erased."""
    application = session.get(Application, report.application_id)
    return applications.read_form(session, runtime.vault, application) if application is not None else None


def review(session: Session, runtime: Runtime, principal: Principal, report_id: str, *, listed: bool,
           description: str | None, photo_public: bool) -> CivicReport:
    """Decide what of a report is public: the report itself, its description (as the clerk edited it, with
    nothing personal), its photos (checked for faces and plates).

    Raises:
        InvalidRequest: a description too long or with a My Number.
        NotFound, PermissionDenied: see ``clerk_report``.
    """
    report = clerk_report(session, principal, report_id, lock=True)
    text = (description or "").strip() or None
    if text is not None:
        if len(text) > MAX_DESCRIPTION:
            raise InvalidRequest(f"a description has at most {MAX_DESCRIPTION} characters", param="description")
        applications.no_my_number(text, "description")
    report.listed, report.public_description, report.photo_public = listed, text, photo_public and listed
    report.updated_at = utcnow()
    applications.staff_note(session, runtime, principal, report.application_id, event="civic_reviewed",
                            details={"listed": listed, "description": text, "photo_public": report.photo_public},
                            public={"listed": listed, "photo_public": report.photo_public})
    return report


def _followers(session: Session, report: CivicReport) -> list[CivicReport]:
    return list(session.scalars(select(CivicReport).where(CivicReport.merged_into == report.id)
                                .order_by(CivicReport.id).with_for_update()))


def _into_review(session: Session, runtime: Runtime, principal: Principal, application_id: str) -> Application:
    """The report's application in review (claimed by the caller when it still waits)."""
    application = session.get(Application, application_id)
    if application is None:
        raise NotFound(f"no application {application_id}", param="id")
    if application.status in (Status.SUBMITTED, Status.RESUBMITTED):
        application = applications.claim(session, runtime, principal, application_id)
    return application


def _close_application(session: Session, runtime: Runtime, principal: Principal, application_id: str,
                       resolution: str, reason: str | None) -> None:
    application = _into_review(session, runtime, principal, application_id)
    if Status(application.status).final:
        return
    action = "approve" if resolution in (Resolution.FIXED, Resolution.DUPLICATE) else "reject"
    applications.decide(session, runtime, principal, application_id, action, reason=reason)


def change_status(session: Session, runtime: Runtime, principal: Principal, report_id: str, *, status: str,
                  resolution: str | None = None, reason: str | None = None) -> CivicReport:
    """Move a report (and the reports merged into it) to ``status``; published at once.

    Raises:
        Conflict: the report is closed, or a duplicate (change the one it was merged into), or the move
            goes backwards (``invalid_transition``).
        InvalidRequest: closing without a resolution, or as not actionable without a reason.
        NotFound, PermissionDenied: see ``clerk_report``; a clerk may not decide another's application.
    """
    report = clerk_report(session, principal, report_id, lock=True)
    if report.merged_into is not None:
        raise Conflict(f"this report is a duplicate of {report.merged_into}; change that one",
                       code="merged_report", param="id")
    order = [CivicStatus.SUBMITTED, CivicStatus.ACKNOWLEDGED, CivicStatus.IN_PROGRESS, CivicStatus.CLOSED]
    target = CivicStatus(status)
    if report.status == CivicStatus.CLOSED or order.index(target) <= order.index(CivicStatus(report.status)):
        raise Conflict(f"a report that is {report.status} cannot become {status}", code="invalid_transition",
                       param="status")
    if target == CivicStatus.CLOSED:
        if resolution not in (Resolution.FIXED, Resolution.NOT_ACTIONABLE):
            raise InvalidRequest("closing needs a resolution: fixed or not_actionable", code="resolution_required",
                                 param="resolution")
        if resolution == Resolution.NOT_ACTIONABLE and len((reason or "").strip()) < applications.MIN_REASON:
            raise InvalidRequest("closing without action needs a reason", code="reason_required", param="reason")
    elif resolution is not None:
        raise InvalidRequest("only closing takes a resolution", param="resolution")

    now = utcnow()
    followers = _followers(session, report)
    if target == CivicStatus.CLOSED:
        assert resolution is not None
        _close_application(session, runtime, principal, report.application_id, resolution, reason)
        for follower in followers:
            _close_application(session, runtime, principal, follower.application_id, resolution,
                               f"duplicate of {report.id}")
            follower.status, follower.resolution, follower.closed_at = CivicStatus.CLOSED, Resolution.DUPLICATE, now
            follower.updated_at = now
        report.resolution, report.closed_at = resolution, now
        if resolution == Resolution.FIXED:
            reward(session, runtime, report)  # fixed: confirmed, even when no one acknowledged it first
    else:
        _into_review(session, runtime, principal, report.application_id)
        if target == CivicStatus.IN_PROGRESS:
            applications.staff_note(session, runtime, principal, report.application_id, event="civic_in_progress",
                                    details={"status": status, "note": (reason or "").strip() or None},
                                    public={"status": status})
        for follower in followers:
            follower.status, follower.updated_at = target, now
        reward(session, runtime, report)
    report.status, report.updated_at = target, now
    report.listed = True  # a clerk has looked at it: the report is public (its texts and photos stay as reviewed)
    return report


def merge(session: Session, runtime: Runtime, principal: Principal, report_id: str, into: str) -> CivicReport:
    """Merge a duplicate into another report of the same service: it follows that one's status from now on.

    Raises:
        Conflict: merging into itself, across services, or with a closed report (``cannot_merge``).
        NotFound, PermissionDenied: see ``clerk_report``.
    """
    report = clerk_report(session, principal, report_id, lock=True)
    target = clerk_report(session, principal, into, lock=True)
    while target.merged_into is not None:  # merge into the report the whole group follows
        target = clerk_report(session, principal, target.merged_into, lock=True)
    if target.id == report.id:
        raise Conflict("a report cannot be merged into itself", code="cannot_merge", param="into")
    if target.service_code != report.service_code:
        raise Conflict("only reports of the same service can be merged", code="cannot_merge", param="into")
    if CivicStatus.CLOSED in (report.status, target.status):
        raise Conflict("closed reports cannot be merged", code="cannot_merge", param="into")
    now = utcnow()
    for follower in [report, *_followers(session, report)]:
        applications.staff_note(session, runtime, principal, follower.application_id, event="civic_merged",
                                details={"into": target.id}, public={"into": target.id})
        follower.merged_into, follower.status, follower.updated_at = target.id, target.status, now
        follower.resolution = None
    target.updated_at = now
    return report


# --------------------------------------------------------------------------- rewards
def reporter_wallet(session: Session, runtime: Runtime, report: CivicReport) -> str | None:
    """The wallet that filed ``report``: the applicant of an e-application, else the one sealed in the record."""
    application = session.get(Application, report.application_id)
    if application is None:
        return None
    if application.applicant != protocol.ZERO_ADDRESS:
        return application.applicant
    details = applications.latest_details(session, runtime.vault, application, REPORTED) or {}
    wallet = (details.get("reporter") or {}).get("wallet")
    return str(wallet) if wallet else None


def reward(session: Session, runtime: Runtime, report: CivicReport) -> TxIntent | None:
    """Enqueue the reward of a confirmed report of a linked resident, at most once."""
    amount = runtime.settings.civic_reward
    if not amount or report.reward_status != "none" or not report.verified or report.merged_into is not None:
        return None
    wallet = reporter_wallet(session, runtime, report)
    if wallet is None:
        return None
    intent = points.queue_credit(session, runtime, wallet, amount, points.expiry_for(runtime), kind=REWARD_KIND,
                                 reference=REWARD_REFERENCE + report.id)
    report.reward, report.reward_status, report.reward_intent_id = amount, "pending", intent.id
    return intent


def on_reward_final(session: Session, runtime: Runtime, intent: TxIntent) -> None:
    """Final-state handler of ``civic_reward`` intents: the reward was credited, or not.

    Kept out of the report's public history on purpose: a credit's transaction names the wallet.
    """
    report_id = (intent.reference or "").removeprefix(REWARD_REFERENCE)
    report = session.scalar(select(CivicReport).where(CivicReport.id == report_id).with_for_update())
    if report is None or report.reward_status != "pending" or report.reward_intent_id != intent.id:
        return
    report.reward_status = "paid" if intent.status == IntentStatus.CONFIRMED else "failed"


# --------------------------------------------------------------------------- the e-applications queue
def follow_applications(session: Session, runtime: Runtime) -> int:
    """Catch reports up with applications decided or claimed in the e-applications queue. Returns how many moved.

    Only forward moves: a report ahead of its application (in progress, merged) keeps its status. A linked
    resident's report approved there is rewarded as if closed here.
    """
    order = [CivicStatus.SUBMITTED, CivicStatus.ACKNOWLEDGED, CivicStatus.IN_PROGRESS, CivicStatus.CLOSED]
    rows = session.execute(select(CivicReport, Application).join(
        Application, Application.id == CivicReport.application_id).where(
        CivicReport.status != CivicStatus.CLOSED, CivicReport.merged_into.is_(None),
        ((Application.status == Status.IN_REVIEW) & (CivicReport.status == CivicStatus.SUBMITTED))
        | Application.status.in_((Status.APPROVED, Status.REJECTED, Status.WITHDRAWN, Status.LAPSED)),
    ).limit(500)).all()
    moved = 0
    for report, application in rows:
        status, resolution = reports.civic_status_of(application)
        if order.index(status) <= order.index(CivicStatus(report.status)):
            continue
        report.status, report.resolution, report.updated_at = status, resolution, application.updated_at
        if status == CivicStatus.CLOSED:
            report.closed_at = application.closed_at or application.updated_at
        if resolution == Resolution.FIXED or status == CivicStatus.ACKNOWLEDGED:
            reward(session, runtime, report)
        moved += 1
    session.flush()
    return moved


def adopter(runtime: Runtime, stop: threading.Event) -> None:
    """Worker: every ``civic_adopt_interval`` seconds, give new civic e-applications their reports and catch
    reports up with applications decided in the e-applications queue."""
    while not stop.is_set():
        try:
            with runtime.sessions() as session, session.begin():
                reports.adopt_applications(session, runtime)
                follow_applications(session, runtime)
        except Exception:  # noqa: BLE001 - keep adopting; the next pass retries
            log.exception("adopting civic e-applications failed")
        stop.wait(runtime.settings.civic_adopt_interval)
