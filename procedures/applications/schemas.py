"""Request and response bodies of the e-application endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from procedures.applications import service, transitions
from procedures.applications.catalog import ProcedureType
from procedures.applications.models import Application, ApplicationEvent, Notification
from procedures.applications.records import MESSAGES, open_details
from procedures.crypto import CryptoError, Vault
from procedures.schemas import IsoDatetime, RequestModel
from procedures.transfers.schemas import AuthorizationIn

HEX32 = r"^0x[0-9a-fA-F]{64}$"
SIGNATURE = r"^0x[0-9a-fA-F]{130}$"


# --------------------------------------------------------------------------- requests
class SignatureIn(RequestModel):
    """The wallet's EIP-712 ``ResidentAct`` signature (see ``GET /v1/procedures/signing``)."""

    nonce: str = Field(pattern=HEX32, description="32 random bytes, never reused")
    deadline: int = Field(ge=0, lt=2**63, description="unix seconds; at most 24 hours ahead")
    signature: str = Field(pattern=SIGNATURE)

    def to_signed(self) -> service.ResidentSignature:
        return service.ResidentSignature(nonce=self.nonce.lower(), deadline=self.deadline, signature=self.signature)


class AttachmentIn(RequestModel):
    """A file, base64-encoded in the JSON body (its SHA-256 is part of the signed content)."""

    name: str = Field(min_length=1, max_length=200)
    content_type: str = Field(min_length=3, max_length=64)
    data: str = Field(min_length=1, max_length=14_000_000, description="standard base64 of the file's bytes")

    def to_upload(self) -> service.UploadedFile:
        return service.UploadedFile(name=self.name, content_type=self.content_type, data_b64=self.data)


class SubmissionIn(RequestModel):
    """A new application: answers, files, the wallet's signature over their content hash, and the fee."""

    procedure: str = Field(min_length=1, max_length=48)
    version: int = Field(ge=1)
    form: dict[str, Any]
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=10)
    salt: str = Field(pattern=HEX32, description="32 random bytes mixed into the content hash")
    signature: SignatureIn
    payment: AuthorizationIn | None = Field(None, description="ERC-3009 authorization paying the fee to the treasury")


class ResubmissionIn(RequestModel):
    """Corrected answers (補正). ``attachments: null`` keeps the current files."""

    form: dict[str, Any]
    attachments: list[AttachmentIn] | None = Field(None, max_length=10)
    salt: str = Field(pattern=HEX32)
    signature: SignatureIn


class WithdrawalIn(RequestModel):
    """The wallet's signature of ``ResidentAct(action="withdraw", content=0x0…0)``."""

    signature: SignatureIn


class AssignIn(RequestModel):
    assignee_id: int = Field(ge=1, lt=2**31)


class DecisionIn(RequestModel):
    reason: str | None = Field(None, max_length=2000)


class ReturnIn(RequestModel):
    reason: str = Field(max_length=2000)
    correction_deadline: IsoDatetime = Field(description="ISO 8601 with a timezone; 1 hour to 90 days ahead")


class CommentIn(RequestModel):
    text: str = Field(max_length=2000)


# --------------------------------------------------------------------------- responses
class ProcedureOut(BaseModel):
    object: str = "procedure"
    code: str
    version: int
    title: dict[str, str]
    description: dict[str, str]
    assurance_level: int
    fee: int
    fee_per: str | None
    benefit: int
    department: str
    deadline_days: int
    retention_years: int
    attachments: dict[str, Any]
    form: dict[str, Any] | None = None

    @classmethod
    def of(cls, procedure: ProcedureType, with_form: bool) -> ProcedureOut:
        data = procedure.public()
        if not with_form:
            data["form"] = None
        return cls(**data)


class SigningOut(BaseModel):
    """What a wallet needs to sign procedure acts and pay fees."""

    chain_id: int
    ledger: str
    domain: dict[str, Any]
    types: dict[str, list[dict[str, str]]]
    treasury: str | None


class ProcedureRef(BaseModel):
    code: str
    version: int
    title: dict[str, str] | None


class AttachmentOut(BaseModel):
    id: str
    name: str | None
    content_type: str
    size: int
    sha256: str


class EventOut(BaseModel):
    seq: int
    type: str
    from_status: str
    to_status: str
    occurred_at: datetime
    actor_type: str
    actor: str
    anchored: bool
    anchor_id: int | None


class CorrectionOut(BaseModel):
    reason: str | None
    deadline: datetime | None


class DecisionOut(BaseModel):
    status: str
    reason: str | None
    decided_at: datetime | None


class ApplicationSummary(BaseModel):
    object: str = "application"
    id: str
    procedure: ProcedureRef
    status: str
    department: str
    assignee_id: int | None = None
    revision: int
    fee: int
    fee_status: str
    benefit: int
    benefit_status: str
    submitted_at: datetime
    updated_at: datetime
    due_at: datetime
    overdue: bool
    correction_deadline: datetime | None


class ApplicationOut(ApplicationSummary):
    applicant: str | None = Field(description="the applicant's wallet (hidden from other departments)")
    content_hash: str
    erased: bool
    form: dict[str, Any] | None
    form_access: str = Field(description="granted | denied (another department) | erased")
    attachments: list[AttachmentOut]
    events: list[EventOut]
    correction: CorrectionOut | None
    decision: DecisionOut | None
    allowed_actions: list[str]
    comments: list[dict[str, Any]] | None = None


class NotificationOut(BaseModel):
    object: str = "notification"
    id: int
    application_id: str
    kind: str
    message: dict[str, str]
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


class AccessLogOut(BaseModel):
    id: int
    staff_id: int
    role: str
    department: str | None
    what: str
    at: datetime


# --------------------------------------------------------------------------- builders
def _ref(procedures: Any, application: Application) -> ProcedureRef:
    entry = procedures.find(application.procedure_code)
    return ProcedureRef(code=application.procedure_code, version=application.procedure_version,
                        title=entry.title if entry else None)


def summary(procedures: Any, application: Application) -> ApplicationSummary:
    """The metadata of an application (no personal data)."""
    return ApplicationSummary(
        id=application.id, procedure=_ref(procedures, application), status=application.status,
        department=application.department, assignee_id=application.assignee_id, revision=application.revision,
        fee=application.fee, fee_status=application.fee_status, benefit=application.benefit,
        benefit_status=application.benefit_status, submitted_at=application.submitted_at,
        updated_at=application.updated_at, due_at=application.due_at, overdue=service.is_overdue(application),
        correction_deadline=application.correction_deadline,
    )


def _event_out(event: ApplicationEvent) -> EventOut:
    return EventOut(seq=event.seq, type=event.type, from_status=event.from_status, to_status=event.to_status,
                    occurred_at=datetime.fromtimestamp(event.occurred_at, UTC), actor_type=event.actor_type,
                    actor=event.actor, anchored=event.anchor_id is not None, anchor_id=event.anchor_id)


def detail(session: Session, vault: Vault, procedures: Any, application: Application, *, readable: bool,
           role: str, is_assignee: bool, staff: bool) -> ApplicationOut:
    """The full application; personal data only when ``readable`` (the caller audits that read)."""
    erased = application.erased_at is not None
    form = service.read_form(session, vault, application) if readable and not erased else None
    attachments = []
    for attachment in service.current_attachments(session, application):
        name = None
        if readable and not erased:
            try:
                name = service.attachment_name(session, vault, application, attachment)
            except CryptoError:
                name = None
        attachments.append(AttachmentOut(id=attachment.id, name=name, content_type=attachment.content_type,
                                         size=attachment.size, sha256=attachment.sha256))
    events = service.events_of(session, application)
    correction = decision = None
    if readable and not erased:
        if application.status in ("returned", "resubmitted", "lapsed"):
            details = service.latest_details(session, vault, application, "returned") or {}
            correction = CorrectionOut(reason=details.get("reason"), deadline=details.get("correction_deadline"))
        if application.status in ("approved", "rejected"):
            details = service.latest_details(session, vault, application, application.status) or {}
            decision = DecisionOut(status=application.status, reason=details.get("reason"),
                                   decided_at=application.decided_at)
    comments = None
    if staff and readable and not erased:
        comments = []
        for event in events:
            if event.type == "commented" and event.details_blob is not None:
                try:
                    text = open_details(session, vault, application, event.details_blob).get("comment")
                except CryptoError:
                    text = None
                comments.append({"seq": event.seq, "staff_id": event.actor_id, "text": text,
                                 "at": datetime.fromtimestamp(event.occurred_at, UTC)})
    base = summary(procedures, application).model_dump()
    return ApplicationOut(
        **base, applicant=application.applicant if readable else None, content_hash=application.content_hash,
        erased=erased, form=form,
        form_access="erased" if erased else ("granted" if readable else "denied"), attachments=attachments,
        events=[_event_out(e) for e in events], correction=correction, decision=decision,
        allowed_actions=[] if erased or not readable else transitions.allowed_actions(
            application.status, role, is_assignee=is_assignee),
        comments=comments,
    )


def notification_out(row: Notification) -> NotificationOut:
    return NotificationOut(id=row.id, application_id=row.application_id, kind=row.kind,
                           message=MESSAGES.get(row.kind, {"en": row.kind, "ja": row.kind}), data=row.data or {},
                           created_at=row.created_at, read_at=row.read_at)
