"""Filing civic reports and showing them to the public.

A report filed through Open311 becomes an application of its procedure, recorded by the service (a
system event: no wallet signs it), its answers, photos and reporter (a resident's wallet, the app's
contact fields) sealed under the application's key. E-applications of a civic procedure filed with a
wallet are adopted as reports of their own (``adopt_applications``). The public sees only the civic
row: service, status, grid cell, district, and what a clerk released.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.applications import service as applications
from procedures.applications.anchoring import receipt
from procedures.applications.catalog import ProcedureType
from procedures.applications.models import Application, Status
from procedures.applications.records import record_event, seal_details
from procedures.applications.service.files import decode_files, open_application
from procedures.civic.models import CivicReport, CivicStatus, Resolution
from procedures.civic.services import STANDARD_FIELDS, civic_procedure, form_from
from procedures.civic.town import Grid, Town, grid_for, load_town
from procedures.config import Settings
from procedures.errors import InvalidRequest, NotFound
from procedures.ids import new_id
from procedures.runtime import Runtime
from protocol import applications as protocol
from protocol.citytime import CityClock

#: The Open311 contact fields a POST may carry: sealed with the report, never shown.
CONTACT_FIELDS = ("email", "device_id", "account_id", "first_name", "last_name", "phone")
#: The event of a report filed through Open311 (a fact the service records: no wallet signs it).
REPORTED = "reported"
#: GeoReport v2's default window for ``requests.json`` without dates, and its most rows per answer.
DEFAULT_WINDOW = timedelta(days=90)
MAX_ROWS = 1000
#: The longest ``media_url`` kept (it is never fetched: the city's network reaches no third party).
MAX_MEDIA_URL = 500


@dataclass(frozen=True)
class Photo:
    """An uploaded photo as the client sent it."""

    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Reporter:
    """Who filed: a resident's wallet (a resident token came with the POST), the app's key, contact fields."""

    wallet: str | None = None
    api_key_id: str | None = None
    contact: Mapping[str, str] = dataclasses.field(default_factory=dict)


def town_of(settings: Settings) -> Town:
    """The city's outline and districts."""
    return load_town(settings.civic_town_file)


def grid_of(settings: Settings) -> Grid:
    """The grid that coarsens public locations."""
    return grid_for(town_of(settings), settings.civic_grid_m)


def _photos(procedure: ProcedureType, photos: Sequence[Photo]) -> list[tuple[applications.UploadedFile, bytes]]:
    """The photos checked against the procedure's rules (type by content, size, count; none is fine here:
    GeoReport v2 makes media optional)."""
    rules = dataclasses.replace(procedure.attachments, min=0)
    uploads = [applications.UploadedFile(p.name or f"photo-{i}", p.content_type, base64.b64encode(p.data).decode())
               for i, p in enumerate(photos)]
    try:
        return decode_files(dataclasses.replace(procedure, attachments=rules), uploads)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.message.replace("attachment", "photo"), code=exc.code, param="media") from None


def _in_open311_terms(exc: InvalidRequest) -> InvalidRequest:
    """A form error named as GeoReport names the field: ``form.lat`` → ``lat``, ``form.hazard`` →
    ``attribute[hazard]``."""
    param = exc.param or ""
    name = param.removeprefix("form.").split(".")[0].split("[")[0]
    if not param.startswith("form.") or not name:
        return exc
    field = name if name in STANDARD_FIELDS else f"attribute[{name}]"
    return InvalidRequest(exc.message.replace(f"form.{name}", field, 1), code=exc.code, param=field)


def _place(settings: Settings, form: Mapping[str, Any]) -> tuple[tuple[float, float], str]:
    point = (float(form["lat"]), float(form["long"]))
    town = town_of(settings)
    town.check(point)
    return grid_for(town, settings.civic_grid_m).cell(point), town.district_of(point)


def file_report(
    session: Session, runtime: Runtime, *, service_code: str, fields: Mapping[str, str | None],
    attributes: Mapping[str, str], photos: Sequence[Photo], media_url: str | None, reporter: Reporter,
) -> CivicReport:
    """File an Open311 report: validated in full before anything is written, then one transaction.

    Raises:
        UnknownService: not a civic service.
        InvalidRequest: a missing or bad field or attribute (``param`` names it), a location outside the
            city (``outside_city``), a photo that is not an accepted image or too large, a My Number.
    """
    settings = runtime.settings
    procedure = civic_procedure(applications.catalog(runtime), settings, service_code)
    form = form_from(procedure, fields, attributes)
    contact = {k: v for k, v in reporter.contact.items() if v}
    applications.no_my_number(form, "form")
    applications.no_my_number(contact, "contact")
    if media_url is not None and (len(media_url) > MAX_MEDIA_URL or not media_url.startswith(("https://", "http://"))):
        raise InvalidRequest(f"media_url must be an http(s) URL of at most {MAX_MEDIA_URL} characters",
                             code="invalid_media_url", param="media_url")
    cell, district = _place(settings, form)
    try:
        procedure.validate(form, settings.applications_city_bbox)
    except InvalidRequest as exc:
        raise _in_open311_terms(exc) from None
    files = _photos(procedure, photos)
    verified = reporter.wallet is not None and runtime.registry.status(reporter.wallet).verified

    salt = protocol.hex32(os.urandom(32))
    digests = [protocol.attachment_digest(f.name, f.content_type, data) for f, data in files]
    content = protocol.content_hash(procedure.code, procedure.version, form, digests, salt)
    application = open_application(session, runtime.vault, settings.clock, procedure, applicant=protocol.ZERO_ADDRESS,
                                   form=form, salt=salt, files=files, content_hash=content, fee=0, benefit=0)
    now = application.submitted_at
    sealed = {"form": form, "salt": salt, "reporter": {"wallet": reporter.wallet, **contact}, "media_url": media_url}
    record_event(session, application, type=REPORTED, to_status=Status.SUBMITTED, content_hash=content,
                 sealed_details=seal_details(session, runtime.vault, application, sealed),
                 public_details={"revision": 1, "channel": "open311"})
    report = CivicReport(
        id=new_id("sr"), token=new_id("tok"), application_id=application.id, service_code=procedure.code,
        department=procedure.department, source="open311", api_key_id=reporter.api_key_id, verified=verified,
        listed=verified, status=CivicStatus.SUBMITTED, cell_lat=cell[0], cell_long=cell[1], district=district,
        photo_count=len(files), requested_at=now, updated_at=now,
    )
    session.add(report)
    session.flush()
    return report


def adopt_applications(session: Session, runtime: Runtime) -> int:
    """Give every civic e-application filed with a wallet its report (verified and listed). Returns how many."""
    settings = runtime.settings
    taken = select(CivicReport.application_id)
    rows = list(session.scalars(select(Application).where(
        Application.procedure_code.in_(settings.civic_services), Application.applicant != protocol.ZERO_ADDRESS,
        Application.id.not_in(taken)).limit(500)))
    adopted = 0
    for application in rows:
        form = applications.read_form(session, runtime.vault, application)
        if form is None or "lat" not in form or "long" not in form:
            continue
        point = (float(form["lat"]), float(form["long"]))
        town = town_of(settings)
        cell = grid_for(town, settings.civic_grid_m).cell(point)
        status, resolution = civic_status_of(application)
        session.add(CivicReport(
            id=new_id("sr"), token=new_id("tok"), application_id=application.id,
            service_code=application.procedure_code, department=application.department, source="wallet",
            verified=True, listed=True, status=status, resolution=resolution, cell_lat=cell[0], cell_long=cell[1],
            district=town.district_of(point), photo_count=len(applications.current_attachments(session, application)),
            requested_at=application.submitted_at, updated_at=application.updated_at,
            closed_at=application.closed_at,
        ))
        adopted += 1
    session.flush()
    return adopted


def civic_status_of(application: Application) -> tuple[CivicStatus, Resolution | None]:
    """Where a report stands when only its application moved (a clerk worked it in the applications queue)."""
    if application.status == Status.APPROVED:
        return CivicStatus.CLOSED, Resolution.FIXED
    if Status(application.status).final:
        return CivicStatus.CLOSED, Resolution.NOT_ACTIONABLE
    if application.status == Status.IN_REVIEW:
        return CivicStatus.ACKNOWLEDGED, None
    return CivicStatus.SUBMITTED, None


# --------------------------------------------------------------------------- the public view
def _public() -> ColumnElement[bool]:
    return CivicReport.listed.is_(True)


def public_report(session: Session, report_id: str) -> CivicReport:
    """A report the public may see.

    Raises:
        NotFound: no such report, or not public (yet).
    """
    report = session.get(CivicReport, report_id)
    if report is None or not report.listed:
        raise NotFound(f"no service request {report_id}", param="service_request_id")
    return report


def by_token(session: Session, token: str) -> CivicReport:
    """The report a POST answered with ``token``.

    Raises:
        NotFound: no such token.
    """
    report = session.scalar(select(CivicReport).where(CivicReport.token == token))
    if report is None:
        raise NotFound(f"no token {token}", param="token")
    return report


@dataclass(frozen=True)
class PublicFilter:
    """GeoReport v2's filters of ``requests.json``."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()


def public_reports(session: Session, filters: PublicFilter) -> list[CivicReport]:
    """Public reports, newest first (at most ``MAX_ROWS``). Without ids or dates: the last 90 days.

    Raises:
        InvalidRequest: an unknown status, or a start after the end.
    """
    query = select(CivicReport).where(_public())
    if filters.ids:
        query = query.where(CivicReport.id.in_(filters.ids))
    else:
        end = filters.end or utcnow() + timedelta(minutes=1)
        start = filters.start or end - DEFAULT_WINDOW
        if start > end:
            raise InvalidRequest("start_date is after end_date", param="start_date")
        query = query.where(CivicReport.requested_at >= start, CivicReport.requested_at <= end)
    if filters.service_codes:
        query = query.where(CivicReport.service_code.in_(filters.service_codes))
    if filters.statuses:
        if not set(filters.statuses) <= {"open", "closed"}:
            raise InvalidRequest("status is open or closed", param="status")
        if filters.statuses == ("closed",):
            query = query.where(CivicReport.status == CivicStatus.CLOSED)
        elif "closed" not in filters.statuses:
            query = query.where(CivicReport.status != CivicStatus.CLOSED)
    return list(session.scalars(query.order_by(CivicReport.requested_at.desc(), CivicReport.id.desc()).limit(MAX_ROWS)))


STATUS_NOTES: dict[str, dict[str, str]] = {
    CivicStatus.SUBMITTED: {"ja": "受付済み（確認待ち）", "en": "received; waiting for review"},
    CivicStatus.ACKNOWLEDGED: {"ja": "市が確認しました", "en": "acknowledged by the city"},
    CivicStatus.IN_PROGRESS: {"ja": "対応中", "en": "work in progress"},
    Resolution.FIXED: {"ja": "対応が完了しました", "en": "fixed"},
    Resolution.DUPLICATE: {"ja": "重複（{into} にまとめました）", "en": "duplicate of {into}"},
    Resolution.NOT_ACTIONABLE: {"ja": "対応の対象外として終了しました", "en": "closed without action"},
}


def status_note(report: CivicReport, lang: str) -> str:
    """The status in words (``status_notes``)."""
    key = report.resolution if report.status == CivicStatus.CLOSED and report.resolution else report.status
    return STATUS_NOTES[key][lang].format(into=report.merged_into or "")


def iso(value: datetime | None, clock: CityClock) -> str | None:
    """ISO 8601 in the city's time zone, as GeoReport v2 writes datetimes."""
    return clock.local(value).isoformat(timespec="seconds") if value is not None else None


def public_json(report: CivicReport, procedure: ProcedureType | None, lang: str, base_url: str,
                clock: CityClock) -> dict[str, Any]:
    """A GeoReport v2 service request as the public sees it (no reporter, no exact point)."""
    media = (f"{base_url}/open311/v2/requests/{report.id}/media" if report.photo_public and report.photo_count
             else None)
    return {
        "service_request_id": report.id, "status": report.open311_status, "status_notes": status_note(report, lang),
        "service_name": procedure.title[lang] if procedure else report.service_code,
        "service_code": report.service_code, "description": report.public_description,
        "agency_responsible": report.department, "service_notice": None,
        "requested_datetime": iso(report.requested_at, clock), "updated_datetime": iso(report.updated_at, clock),
        "expected_datetime": None, "address": None, "address_id": None, "zipcode": None,
        "lat": report.cell_lat, "long": report.cell_long, "media_url": media,
        # extensions (GeoReport v2 allows more fields): where the city keeps its word
        "detailed_status": report.status, "resolution": report.resolution, "district": report.district,
        "verified_reporter": report.verified, "merged_into": report.merged_into,
        "history_url": f"{base_url}/town/reports/{report.id}/history",
    }


def public_photo(session: Session, runtime: Runtime, report: CivicReport) -> tuple[str, bytes]:
    """The first photo of a public report, once a clerk released it.

    Raises:
        NotFound: none, or not released.
    """
    application = session.get(Application, report.application_id)
    if not report.photo_public or application is None:
        raise NotFound("this request has no public photo", param="service_request_id")
    files = applications.current_attachments(session, application)
    if not files:
        raise NotFound("this request has no public photo", param="service_request_id")
    return files[0].content_type, applications.attachment_bytes(session, runtime.vault, application, files[0])


def public_history(session: Session, runtime: Runtime, report: CivicReport) -> dict[str, Any]:
    """The report's anchored history (its application's receipt) without the reporter.

    A resident's signed events keep their leaf, proof and anchor, but not the signer or the signature
    (either would name the wallet): anyone can still check that every leaf sits under a root anchored in
    ProcedureLedger, so the city cannot rewrite the history, and re-open staff and system events in full.
    """
    application = session.get(Application, report.application_id)
    if application is None:
        raise NotFound(f"no service request {report.id}", param="service_request_id")
    full = receipt(session, runtime, application)
    applicant = application.applicant.lower()
    events = []
    for event in full["events"]:
        event = dict(event)
        if applicant != protocol.ZERO_ADDRESS and str(event["actor"]).lower() == applicant:
            event["actor"], event["signature"], event["withheld"] = None, None, ["actor", "signature"]
        events.append(event)
    # a report filed through Open311 has no signing resident: its history is a whole receipt
    # (``protocol.receipts.verify_receipt``); an e-application's says whose it is only to its applicant
    open_applicant = full["applicant"] if applicant == protocol.ZERO_ADDRESS else None
    return {"object": "civic_history", "service_request_id": report.id, "application_id": application.id,
            "applicant": open_applicant, "chain_id": full["chain_id"], "ledger": full["ledger"], "events": events,
            "generated_at": full["generated_at"]}
