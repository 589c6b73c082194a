"""The clerks' civic API (``/v1/clerk/civic``: the department's reports with their exact points, review,
status changes, merges) and the operator's Open311 keys (``/v1/admin/open311/keys``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from procedures.applications import service as applications
from procedures.applications.models import Application
from procedures.auth.service import Principal
from procedures.civic import clerks, keys
from procedures.civic.models import CivicReport
from procedures.civic.schemas import (
    ClerkReportOut,
    KeyIn,
    KeyOut,
    MergeIn,
    ReviewIn,
    StatusIn,
    clerk_report_out,
    key_out,
)
from procedures.deps import AdminPrincipal, RuntimeDep, SessionDep, StaffPrincipal
from procedures.runtime import Runtime

router = APIRouter()
staff = APIRouter(prefix="/v1/clerk/civic", tags=["clerk"])
admin = APIRouter(prefix="/v1/admin/open311", tags=["operator"])


def _out(session: Session, runtime: Runtime, principal: Principal, report: CivicReport) -> ClerkReportOut:
    """The clerks' view, its read of the sealed answers logged."""
    application = session.get(Application, report.application_id)
    if application is not None:
        applications.audit_read(session, principal, application, "form")
    return clerk_report_out(report, clerks.exact_form(session, runtime, report))


@staff.get("/reports", response_model=list[ClerkReportOut], summary="The department's civic reports")
def list_reports(session: SessionDep, runtime: RuntimeDep, principal: StaffPrincipal,
                 report_status: Annotated[str | None, Query(alias="status", max_length=16)] = None,
                 ) -> list[ClerkReportOut]:
    """Newest first, with the exact points (the map view)."""
    found = clerks.clerk_reports(session, principal, status=report_status)
    return [_out(session, runtime, principal, r) for r in found]


@staff.get("/reports/{report_id}", response_model=ClerkReportOut, summary="One civic report")
def get_report(report_id: str, session: SessionDep, runtime: RuntimeDep, principal: StaffPrincipal) -> ClerkReportOut:
    """One report of the department."""
    return _out(session, runtime, principal, clerks.clerk_report(session, principal, report_id))


@staff.post("/reports/{report_id}/review", response_model=ClerkReportOut, summary="Release a report for the public")
def review_report(report_id: str, body: ReviewIn, session: SessionDep, runtime: RuntimeDep,
                  principal: StaffPrincipal) -> ClerkReportOut:
    """List it publicly, release its description and photos (checked for faces and plates)."""
    report = clerks.review(session, runtime, principal, report_id, listed=body.listed, description=body.description,
                           photo_public=body.photo_public)
    return _out(session, runtime, principal, report)


@staff.post("/reports/{report_id}/status", response_model=ClerkReportOut, summary="Change a report's status")
def change_status(report_id: str, body: StatusIn, session: SessionDep, runtime: RuntimeDep,
                  principal: StaffPrincipal) -> ClerkReportOut:
    """acknowledged, in_progress or closed (fixed / not_actionable): published to Open311 and /town at once."""
    report = clerks.change_status(session, runtime, principal, report_id, status=body.status,
                                  resolution=body.resolution, reason=body.reason)
    return _out(session, runtime, principal, report)


@staff.post("/reports/{report_id}/merge", response_model=ClerkReportOut, summary="Merge a duplicate")
def merge_report(report_id: str, body: MergeIn, session: SessionDep, runtime: RuntimeDep,
                 principal: StaffPrincipal) -> ClerkReportOut:
    """The report follows ``into`` from now on; closing that one closes both."""
    return _out(session, runtime, principal, clerks.merge(session, runtime, principal, report_id, body.into))


@admin.post("/keys", status_code=status.HTTP_201_CREATED, response_model=KeyOut, summary="Issue an Open311 API key")
def issue_key(body: KeyIn, session: SessionDep, runtime: RuntimeDep, principal: AdminPrincipal) -> KeyOut:
    """A key for a third-party reporting app (the secret is shown once)."""
    key, secret = keys.issue_key(session, runtime.settings, name=body.name, created_by=f"staff:{principal.subject}")
    return key_out(key, secret)


@admin.get("/keys", response_model=list[KeyOut], summary="Open311 API keys")
def list_keys(session: SessionDep, _: AdminPrincipal) -> list[KeyOut]:
    """Every key, newest first (no secrets)."""
    return [key_out(k) for k in keys.list_keys(session)]


@admin.post("/keys/{key_id}/revoke", response_model=KeyOut, summary="Revoke an Open311 API key")
def revoke_key(key_id: str, session: SessionDep, _: AdminPrincipal) -> KeyOut:
    """The key stops working at once."""
    return key_out(keys.revoke_key(session, key_id))


router.include_router(staff)
router.include_router(admin)
