"""E-application services: residents file, correct and withdraw; staff claim, assign and decide.

Data flows one way: routes → these functions → the records (events, notifications), the payments
core (fees, refunds), the outbox (benefits). Every function works in the caller's transaction and
locks the application row before changing it; the transition table
(``procedures.applications.transitions``) decides what is allowed.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from chain.contracts.authorization import Authorization
from chain.plan import LEDGER
from chain.storage import utcnow
from procedures.applications import money, transitions
from procedures.applications.catalog import Catalog, ProcedureType, catalog_for
from procedures.applications.models import AccessLog, Application, ApplicationEvent, Attachment, Status
from procedures.applications.records import (
    close,
    lock_application,
    new_application_id,
    notify,
    open_details,
    record_event,
    seal_details,
)
from procedures.auth.models import StaffAccount
from procedures.auth.service import Principal, staff_signer
from procedures.crypto import CryptoError, RecordErased, Vault
from procedures.errors import Conflict, InvalidRequest, NotFound, PermissionDenied, ServiceError
from procedures.identity.errors import MyNumberRefused
from procedures.identity.mynumber import refuse_my_number
from procedures.runtime import Runtime
from protocol import applications as protocol

log = logging.getLogger("machi.applications")

#: A resident's signature may be dated at most this far ahead (its ``deadline``).
MAX_SIGNATURE_WINDOW_S = 24 * 3600
MAX_CORRECTION_DAYS = 90
MIN_REASON = 3
MAX_REASON = 2000
#: Leading bytes of the file types the catalog accepts (a declared type must match the content).
_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff", "application/pdf": b"%PDF-"}


# --------------------------------------------------------------------------- shared helpers
def catalog(runtime: Runtime) -> Catalog:
    """The procedure catalog this service runs with."""
    return catalog_for(runtime.settings.applications_catalog_dir)


def signing_domain(runtime: Runtime) -> dict[str, Any]:
    """The EIP-712 domain residents and clerks sign procedure acts in."""
    manifest = runtime.manifest  # checked against the chain when loaded; saves a chain-id round trip
    return protocol.domain(manifest.chain_id, manifest.address(LEDGER))


def no_my_number(value: Any, root: str) -> None:
    """Refuse input carrying a My Number, pointing at where it is (without echoing it).

    Raises:
        InvalidRequest: code ``my_number_refused``.
    """
    try:
        refuse_my_number(value)
    except MyNumberRefused as exc:
        paths = exc.details.get("paths") or ["$"]
        param = root + paths[0].removeprefix("$")
        raise InvalidRequest("the input appears to contain a My Number (個人番号); this service must not receive "
                             "it — remove it and retry", code="my_number_refused", param=param) from None


def finite_numbers(value: Any, path: str = "form") -> None:
    """Refuse NaN and infinities (JSON parsers accept them; canonical JSON and the schema do not).

    Raises:
        InvalidRequest: code ``invalid_form`` pointing at the number.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(f"{path}: numbers must be finite", code="invalid_form", param=path)
    if isinstance(value, dict):
        for key, item in value.items():
            finite_numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            finite_numbers(item, f"{path}[{index}]")


@dataclass(frozen=True)
class UploadedFile:
    """An attachment as the resident sent it."""

    name: str
    content_type: str
    data_b64: str


@dataclass(frozen=True)
class ResidentSignature:
    """A resident's EIP-712 signature of an act, with its nonce and deadline."""

    nonce: str
    deadline: int
    signature: str


def _check_signature(runtime: Runtime, session: Session, wallet: str, action: str, application: str,
                     content: str, signed: ResidentSignature) -> None:
    now = int(time.time())
    if signed.deadline <= now:
        raise InvalidRequest("the signature's deadline has passed; sign again", code="signature_expired",
                             param="signature.deadline")
    if signed.deadline > now + MAX_SIGNATURE_WINDOW_S:
        raise InvalidRequest("a signature's deadline may be at most 24 hours ahead", code="deadline_too_far",
                             param="signature.deadline")
    domain = signing_domain(runtime)
    typed = protocol.resident_act(domain["chainId"], domain["verifyingContract"], applicant=wallet, action=action,
                                  application=application, content=content, nonce=signed.nonce,
                                  deadline=signed.deadline)
    signer = protocol.recover_typed(typed, signed.signature)
    if signer is None or signer.lower() != wallet.lower():
        raise InvalidRequest("the signature is not this wallet's over this content (wrong key, chain, ledger, "
                             "nonce, deadline or content)", code="invalid_signature", param="signature.signature")
    used = session.scalar(select(ApplicationEvent.id).where(ApplicationEvent.actor == wallet,
                                                            ApplicationEvent.nonce == signed.nonce.lower()))
    if used is not None:
        raise Conflict("this signature's nonce was already used; sign again with a fresh nonce", code="nonce_reused",
                       param="signature.nonce")


def _check_identity(runtime: Runtime, wallet: str, procedure: ProcedureType) -> None:
    status = runtime.registry.status(wallet)
    if not status.verified:
        raise PermissionDenied("this wallet is not verified on chain; link your My Number card first",
                               code="wallet_not_verified")
    if int(status.level) < procedure.assurance_level:
        raise PermissionDenied(f"this procedure needs identity assurance level {procedure.assurance_level} "
                               f"(your wallet has {int(status.level)})", code="assurance_level_too_low")


def _decode_files(procedure: ProcedureType, files: Sequence[UploadedFile]) -> list[tuple[UploadedFile, bytes]]:
    rules = procedure.attachments
    if not rules.min <= len(files) <= rules.max:
        wanted = f"{rules.min}" if rules.min == rules.max else f"{rules.min} to {rules.max}"
        raise InvalidRequest(f"this procedure takes {wanted} attachment(s), got {len(files)}",
                             code="invalid_attachments", param="attachments")
    decoded = []
    for index, upload in enumerate(files):
        where = f"attachments[{index}]"
        if upload.content_type not in rules.types:
            raise InvalidRequest(f"{upload.content_type} is not accepted (allowed: {', '.join(rules.types)})",
                                 code="invalid_attachments", param=f"{where}.content_type")
        try:
            data = base64.b64decode(upload.data_b64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("not valid base64", code="invalid_attachments", param=f"{where}.data") from None
        if not data:
            raise InvalidRequest("the file is empty", code="invalid_attachments", param=f"{where}.data")
        magic = _MAGIC.get(upload.content_type)
        if magic is not None and not data.startswith(magic):
            raise InvalidRequest(f"the file is not a {upload.content_type} file", code="invalid_attachments",
                                 param=f"{where}.data")
        if len(data) > rules.max_bytes:
            raise InvalidRequest(f"the file is {len(data)} bytes; at most {rules.max_bytes} are accepted",
                                 code="attachment_too_large", param=f"{where}.data")
        decoded.append((upload, data))
    return decoded


def _store_files(session: Session, vault: Vault, application: Application,
                 files: Sequence[tuple[UploadedFile, bytes]]) -> list[dict[str, Any]]:
    digests = []
    for position, (upload, data) in enumerate(files):
        digest = protocol.attachment_digest(upload.name, upload.content_type, data)
        attachment_id = "att_" + new_application_id()[3:]
        aad = f"{application.id}:{digest['sha256']}".encode()
        session.add(Attachment(
            id=attachment_id, application_id=application.id, revision=application.revision, position=position,
            content_type=upload.content_type, size=len(data), sha256=digest["sha256"],
            name_blob=vault.seal(session, application.key_id, upload.name.encode(), aad=aad),
            blob=vault.seal(session, application.key_id, data, aad=aad),
        ))
        digests.append(digest)
    return digests


def current_attachments(session: Session, application: Application) -> list[Attachment]:
    """The attachments of the application's current revision, in order."""
    return list(session.scalars(select(Attachment).where(
        Attachment.application_id == application.id, Attachment.revision == application.revision,
    ).order_by(Attachment.position)))


def attachment_name(session: Session, vault: Vault, application: Application, attachment: Attachment) -> str:
    """The (sealed) file name of an attachment."""
    aad = f"{application.id}:{attachment.sha256}".encode()
    return vault.open(session, application.key_id, attachment.name_blob, aad=aad).decode()


def attachment_bytes(session: Session, vault: Vault, application: Application, attachment: Attachment) -> bytes:
    """The decrypted bytes of an attachment.

    Raises:
        RecordErased: the application's key was erased.
    """
    aad = f"{application.id}:{attachment.sha256}".encode()
    return vault.open(session, application.key_id, attachment.blob, aad=aad)


def read_form(session: Session, vault: Vault, application: Application) -> dict[str, Any] | None:
    """The current answers, or ``None`` once the record was erased."""
    try:
        sealed = vault.open_json(session, application.key_id, application.form_blob,
                                 aad=f"{application.id}:form".encode())
    except RecordErased:
        return None
    form: dict[str, Any] = sealed["form"]
    return form


def _seal_form(session: Session, vault: Vault, application: Application, form: Mapping[str, Any], salt: str) -> None:
    application.form_blob = vault.seal_json(session, application.key_id, {"form": dict(form), "salt": salt},
                                            aad=f"{application.id}:form".encode())


def _days(n: int) -> timedelta:
    return timedelta(days=n)


# --------------------------------------------------------------------------- residents
def submit(
    session: Session, runtime: Runtime, *, wallet: str, procedure_code: str, version: int, form: Any,
    attachments: Sequence[UploadedFile], salt: str, signed: ResidentSignature, payment: Authorization | None,
) -> Application:
    """File a new application: validated, signed by the wallet, its fee accepted, all in one transaction.

    Raises:
        NotFound: unknown procedure.
        Conflict: the form version is outdated (``form_version_outdated``); the nonce was used.
        InvalidRequest: the form, an attachment, the signature or the payment is wrong (``param`` says
            which); a My Number is present.
        PermissionDenied: the wallet is not verified at the procedure's assurance level.
        PaymentRefused / Unavailable: the fee cannot be paid now.
    """
    procedure = catalog(runtime).get(procedure_code)
    if version != procedure.version:
        raise Conflict(f"the form of {procedure.code} is now version {procedure.version}; fetch it again",
                       code="form_version_outdated", param="version")
    no_my_number(form, "form")
    no_my_number([f.name for f in attachments], "attachments")
    finite_numbers(form)
    procedure.validate(form, runtime.settings.applications_city_bbox)
    files = _decode_files(procedure, attachments)
    digests = [protocol.attachment_digest(f.name, f.content_type, data) for f, data in files]
    content = protocol.content_hash(procedure.code, procedure.version, form, digests, salt)
    _check_signature(runtime, session, wallet, "submit", "", content, signed)
    _check_identity(runtime, wallet, procedure)

    now = utcnow()
    application = Application(
        id=new_application_id(), procedure_code=procedure.code, procedure_version=procedure.version,
        department=procedure.department, applicant=wallet, status="",  # the first event starts from nothing
        key_id=runtime.vault.new_key(session, "application"), form_blob=b"", content_hash=content, revision=1,
        fee=procedure.fee_for(form), benefit=procedure.benefit, due_at=now + _days(procedure.deadline_days),
        submitted_at=now, next_seq=0,
    )
    session.add(application)
    session.flush()
    _seal_form(session, runtime.vault, application, form, salt)
    _store_files(session, runtime.vault, application, files)
    money.charge_fee(session, runtime, application, payment)
    record_event(session, application, type="submitted", to_status=Status.SUBMITTED, actor_type="resident",
                 actor_id=wallet, actor=wallet, signature=signed.signature, content_hash=content,
                 sealed_details=seal_details(session, runtime.vault, application, {"form": form, "salt": salt}),
                 public_details={"revision": 1, "fee": application.fee}, nonce=signed.nonce.lower(),
                 deadline=signed.deadline)
    notify(session, application, "submitted", fee=application.fee)
    return application


def own_application(session: Session, application_id: str, wallet: str, *, lock: bool = False) -> Application:
    """One of the wallet's applications.

    Raises:
        NotFound: no such application for this wallet.
    """
    application = lock_application(session, application_id) if lock else session.get(Application, application_id)
    if application is None or application.applicant != wallet:
        raise NotFound(f"no application {application_id}", param="id")
    return application


def resubmit(
    session: Session, runtime: Runtime, *, wallet: str, application_id: str, form: Any,
    attachments: Sequence[UploadedFile] | None, salt: str, signed: ResidentSignature,
) -> Application:
    """Answer a correction request (補正) with a corrected, newly signed submission.

    ``attachments=None`` keeps the current files (their digests are part of the signed content).

    Raises:
        NotFound: not the wallet's application.
        InvalidTransition: not returned for correction.
        Conflict: the correction deadline passed (``correction_deadline_passed``), or the nonce was used.
        InvalidRequest / PermissionDenied: as for ``submit``.
    """
    application = own_application(session, application_id, wallet, lock=True)
    transitions.check("resubmit", application.status, "resident")
    if application.correction_deadline is not None and application.correction_deadline <= utcnow():
        raise Conflict("the correction deadline has passed", code="correction_deadline_passed")
    procedure = catalog(runtime).get(application.procedure_code)
    no_my_number(form, "form")
    finite_numbers(form)
    procedure.validate(form, runtime.settings.applications_city_bbox)
    if attachments is None:
        kept = current_attachments(session, application)
        digests = [{"name": attachment_name(session, runtime.vault, application, a), "content_type": a.content_type,
                    "size": a.size, "sha256": a.sha256} for a in kept]
        files = None
    else:
        no_my_number([f.name for f in attachments], "attachments")
        files = _decode_files(procedure, attachments)
        digests = [protocol.attachment_digest(f.name, f.content_type, data) for f, data in files]
    content = protocol.content_hash(application.procedure_code, application.procedure_version, form, digests, salt)
    _check_signature(runtime, session, wallet, "resubmit", application.id, content, signed)
    _check_identity(runtime, wallet, procedure)

    previous_revision = application.revision
    application.revision += 1
    application.content_hash = content
    application.correction_deadline = None
    _seal_form(session, runtime.vault, application, form, salt)
    if files is None:
        for old in session.scalars(select(Attachment).where(Attachment.application_id == application.id,
                                                            Attachment.revision == previous_revision)):
            session.add(Attachment(
                id="att_" + new_application_id()[3:], application_id=application.id, revision=application.revision,
                position=old.position, content_type=old.content_type, size=old.size, sha256=old.sha256,
                name_blob=old.name_blob, blob=old.blob,
            ))
    else:
        _store_files(session, runtime.vault, application, files)
    record_event(session, application, type="resubmitted", to_status=Status.RESUBMITTED, actor_type="resident",
                 actor_id=wallet, actor=wallet, signature=signed.signature, content_hash=content,
                 sealed_details=seal_details(session, runtime.vault, application, {"form": form, "salt": salt}),
                 public_details={"revision": application.revision}, nonce=signed.nonce.lower(),
                 deadline=signed.deadline)
    notify(session, application, "resubmitted")
    return application


def withdraw(session: Session, runtime: Runtime, *, wallet: str, application_id: str,
             signed: ResidentSignature) -> Application:
    """Withdraw (取下げ) an application before it is decided; the wallet signs the withdrawal.

    Raises:
        NotFound: not the wallet's application.
        InvalidTransition: already decided, withdrawn or lapsed.
        InvalidRequest / Conflict: bad or reused signature.
    """
    application = own_application(session, application_id, wallet, lock=True)
    transitions.check("withdraw", application.status, "resident")
    _check_signature(runtime, session, wallet, "withdraw", application.id, protocol.ZERO_HASH, signed)
    record_event(session, application, type="withdrawn", to_status=Status.WITHDRAWN, actor_type="resident",
                 actor_id=wallet, actor=wallet, signature=signed.signature, content_hash=protocol.ZERO_HASH,
                 nonce=signed.nonce.lower(), deadline=signed.deadline)
    close(application, catalog(runtime).find(application.procedure_code), utcnow())
    notify(session, application, "withdrawn")
    return application


def own_applications(session: Session, wallet: str, limit: int, starting_after: str | None,
                     status: str | None = None) -> list[Application]:
    """The wallet's applications, newest first, cursor-paginated by id.

    Raises:
        InvalidRequest: unknown cursor.
    """
    query = select(Application).where(Application.applicant == wallet)
    if status:
        query = query.where(Application.status == status)
    if starting_after:
        cursor = session.get(Application, starting_after)
        if cursor is None or cursor.applicant != wallet:
            raise InvalidRequest("unknown cursor", param="starting_after")
        query = query.where(or_(Application.submitted_at < cursor.submitted_at,
                                (Application.submitted_at == cursor.submitted_at) & (Application.id < cursor.id)))
    return list(session.scalars(query.order_by(Application.submitted_at.desc(), Application.id.desc()).limit(limit)))


def events_of(session: Session, application: Application) -> list[ApplicationEvent]:
    """The application's events in order."""
    return list(session.scalars(select(ApplicationEvent).where(ApplicationEvent.application_id == application.id)
                                .order_by(ApplicationEvent.seq)))


def latest_details(session: Session, vault: Vault, application: Application, event_type: str) -> dict[str, Any] | None:
    """The decrypted details of the latest event of ``event_type`` (e.g. the correction reason)."""
    event = session.scalar(select(ApplicationEvent).where(
        ApplicationEvent.application_id == application.id, ApplicationEvent.type == event_type,
    ).order_by(ApplicationEvent.seq.desc()).limit(1))
    if event is None or event.details_blob is None:
        return None
    try:
        details: dict[str, Any] = open_details(session, vault, application, event.details_blob)
    except CryptoError:
        return None
    return details


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
        if not now + timedelta(hours=1) <= correction_deadline <= now + _days(MAX_CORRECTION_DAYS):
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
        money.pay_benefit(session, runtime, application)
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


