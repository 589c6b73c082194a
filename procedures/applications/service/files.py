"""An application's files and answers at rest: attachments checked against the catalog's rules and
sealed under the application's key, the form sealed with its salt.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chain.storage import utcnow
from procedures.applications.catalog import ProcedureType
from procedures.applications.models import Application, Attachment
from procedures.applications.records import new_application_id
from procedures.applications.service.common import UploadedFile
from procedures.crypto import RecordErased, Vault
from procedures.errors import InvalidRequest
from protocol import applications as protocol
from protocol.citytime import CityClock

__all__ = [
    "attachment_bytes",
    "attachment_name",
    "carry_over_attachments",
    "current_attachments",
    "decode_files",
    "new_attachment_id",
    "read_form",
    "seal_form",
    "store_files",
]

#: Leading bytes of the file types the catalog accepts (a declared type must match the content).
_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff", "application/pdf": b"%PDF-"}


def decode_files(procedure: ProcedureType, files: Sequence[UploadedFile]) -> list[tuple[UploadedFile, bytes]]:
    """The uploads decoded and checked against the procedure's attachment rules (count, type, size).

    Raises:
        InvalidRequest: ``invalid_attachments`` or ``attachment_too_large``, ``param`` naming the file.
    """
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


def store_files(session: Session, vault: Vault, application: Application,
                 files: Sequence[tuple[UploadedFile, bytes]]) -> list[dict[str, Any]]:
    """Seal the files (name and bytes) under the application's key; their digests, as the content hash covers them."""
    digests = []
    for position, (upload, data) in enumerate(files):
        digest = protocol.attachment_digest(upload.name, upload.content_type, data)
        attachment_id = new_attachment_id()
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


def seal_form(session: Session, vault: Vault, application: Application, form: Mapping[str, Any], salt: str) -> None:
    """Seal the answers and their salt under the application's key (``read_form`` opens them)."""
    application.form_blob = vault.seal_json(session, application.key_id, {"form": dict(form), "salt": salt},
                                            aad=f"{application.id}:form".encode())




def open_application(
    session: Session, vault: Vault, clock: CityClock, procedure: ProcedureType, *, applicant: str,
    form: Mapping[str, Any], salt: str, files: Sequence[tuple[UploadedFile, bytes]], content_hash: str,
    fee: int, benefit: int,
) -> Application:
    """A new application (revision 1, submitted now, due ``procedure.deadline_days`` city business days
    later) with its form sealed and its files stored; the caller records its first event.

    Args:
        applicant: the resident's wallet (the zero address for a report filed without one).
        content_hash: ``protocol.content_hash`` of the form, the files' digests and ``salt``.
    """
    now = utcnow()
    application = Application(
        id=new_application_id(), procedure_code=procedure.code, procedure_version=procedure.version,
        department=procedure.department, applicant=applicant, status="",  # the first event starts from nothing
        key_id=vault.new_key(session, "application"), form_blob=b"", content_hash=content_hash, revision=1,
        fee=fee, benefit=benefit, due_at=clock.due_after(now, procedure.deadline_days), submitted_at=now,
        next_seq=0,
    )
    session.add(application)
    session.flush()
    seal_form(session, vault, application, form, salt)
    store_files(session, vault, application, files)
    return application


def new_attachment_id() -> str:
    """A fresh attachment id (``att_`` + 24 hex digits)."""
    return "att_" + secrets.token_hex(12)


def carry_over_attachments(session: Session, application: Application, previous_revision: int) -> None:
    """Keep the files of ``previous_revision`` in the current revision (same sealed bytes, new rows)."""
    for old in session.scalars(select(Attachment).where(Attachment.application_id == application.id,
                                                        Attachment.revision == previous_revision)):
        session.add(Attachment(
            id=new_attachment_id(), application_id=application.id, revision=application.revision,
            position=old.position, content_type=old.content_type, size=old.size, sha256=old.sha256,
            name_blob=old.name_blob, blob=old.blob,
        ))
