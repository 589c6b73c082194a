"""What residents do: file an application, answer a correction request (補正), withdraw — each signed by
their wallet (EIP-712 ``ResidentAct``) and recorded as an event of the application's history.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from chain.contracts.authorization import Authorization
from chain.storage import utcnow
from procedures.applications import money, transitions
from procedures.applications.catalog import ProcedureType
from procedures.applications.models import Application, ApplicationEvent, Status
from procedures.applications.records import (
    close,
    lock_application,
    notify,
    record_event,
    seal_details,
)
from procedures.applications.service.common import (
    ResidentSignature,
    UploadedFile,
    catalog,
    finite_numbers,
    no_my_number,
    signing_domain,
)
from procedures.applications.service.files import (
    attachment_name,
    carry_over_attachments,
    current_attachments,
    decode_files,
    open_application,
    seal_form,
    store_files,
)
from procedures.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from procedures.runtime import Runtime
from protocol import applications as protocol

__all__ = [
    "MAX_SIGNATURE_WINDOW_S",
    "own_application",
    "own_applications",
    "resubmit",
    "submit",
    "withdraw",
]

#: A resident's signature may be dated at most this far ahead (its ``deadline``).
MAX_SIGNATURE_WINDOW_S = 24 * 3600


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
    files = decode_files(procedure, attachments)
    digests = [protocol.attachment_digest(f.name, f.content_type, data) for f, data in files]
    content = protocol.content_hash(procedure.code, procedure.version, form, digests, salt)
    _check_signature(runtime, session, wallet, "submit", "", content, signed)
    _check_identity(runtime, wallet, procedure)

    application = open_application(session, runtime.vault, runtime.settings.clock, procedure, applicant=wallet,
                                   form=form, salt=salt, files=files, content_hash=content,
                                   fee=procedure.fee_for(form), benefit=procedure.benefit)
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
        files = decode_files(procedure, attachments)
        digests = [protocol.attachment_digest(f.name, f.content_type, data) for f, data in files]
    content = protocol.content_hash(application.procedure_code, application.procedure_version, form, digests, salt)
    _check_signature(runtime, session, wallet, "resubmit", application.id, content, signed)
    _check_identity(runtime, wallet, procedure)

    previous_revision = application.revision
    application.revision += 1
    application.content_hash = content
    application.correction_deadline = None
    seal_form(session, runtime.vault, application, form, salt)
    if files is None:
        carry_over_attachments(session, application, previous_revision)
    else:
        store_files(session, runtime.vault, application, files)
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
