"""Recording what happens to an application: events (audit log + Merkle leaves) and notifications.

Every state change goes through ``record_event`` in the caller's transaction, with the
application row locked, so an application's events are numbered without gaps (``seq``) and each
leaf commits to exactly what the receipt will open.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from procedures.applications.catalog import ProcedureType
from procedures.applications.models import Application, ApplicationEvent, Notification
from procedures.crypto import Vault
from protocol import applications as protocol

__all__ = ["close", "follow_wallet", "lock_application", "new_application_id", "notify", "open_details", "opening_of",
           "record_event",
           "seal_details"]

DEFAULT_RETENTION_YEARS = 5


def follow_wallet(session: Session, lost_wallet: str, successor: str) -> None:
    """A recovery ran: the person's applications (and so their receipts) and notifications now belong to
    the successor wallet; the retired wallet sees none of them any more. Signed history is untouched:
    events keep the wallet that signed them."""
    for application in session.scalars(select(Application).where(Application.applicant == lost_wallet)):
        application.applicant = successor
    for notification in session.scalars(select(Notification).where(Notification.wallet == lost_wallet)):
        notification.wallet = successor


def new_application_id() -> str:
    """A fresh application id (``ap_`` + 24 hex digits)."""
    return "ap_" + secrets.token_hex(12)


def lock_application(session: Session, application_id: str) -> Application | None:
    """The application row, locked until the transaction ends (``None`` if it does not exist)."""
    return session.scalar(select(Application).where(Application.id == application_id).with_for_update())


def record_event(
    session: Session,
    application: Application,
    *,
    type: str,
    to_status: str | None = None,
    actor_type: str = "system",
    actor_id: str | None = None,
    actor: str = protocol.ZERO_ADDRESS,
    signature: str = "0x",
    content_hash: str = protocol.ZERO_HASH,
    sealed_details: bytes | None = None,
    public_details: Mapping[str, Any] | None = None,
    nonce: str | None = None,
    deadline: int | None = None,
    occurred_at: int | None = None,
) -> ApplicationEvent:
    """Append one event to ``application``'s history (and move its status to ``to_status``).

    The caller holds the application's row lock (``lock_application``) and has already checked the
    transition. The leaf is computed here from a fresh salt; the anchorer batches it later.

    Args:
        type: the event type (``protocol.*_EVENTS``).
        to_status: the new status; ``None`` keeps the current one (comments, payments).
        actor_type, actor_id: ``resident`` + wallet, ``staff`` + staff id, or ``system``.
        actor, signature: the signing address and its EIP-712 signature (zero address and ``"0x"``
            for facts the service records).
        content_hash: what was signed (submission content, details hash) or the facts' hash.
        sealed_details: personal details (reasons, comments, forms) sealed under the record key.
        public_details: non-personal details shown in receipts (transaction hashes, amounts, deadlines).
        nonce, deadline: of a resident's signature.
        occurred_at: unix seconds (default now); signed acts pass the time they signed.
    """
    from_status = application.status
    target = to_status or from_status
    seq = application.next_seq
    opening = protocol.EventOpening(
        application_id=application.id, procedure_code=application.procedure_code,
        procedure_version=application.procedure_version, seq=seq, type=type, from_status=from_status,
        to_status=target, occurred_at=int(occurred_at if occurred_at is not None else time.time()),
        content_hash=content_hash, actor=actor, signature=signature, salt=protocol.hex32(os.urandom(32)),
        nonce=nonce, deadline=deadline,
    )
    event = ApplicationEvent(
        application_id=application.id, seq=seq, type=type, from_status=from_status, to_status=target,
        actor_type=actor_type, actor_id=actor_id, actor=actor, signature=signature, nonce=nonce, deadline=deadline,
        content_hash=content_hash, details_blob=sealed_details,
        public_details=dict(public_details) if public_details else None, occurred_at=opening.occurred_at,
        salt=opening.salt, leaf=protocol.hex32(opening.leaf()),
    )
    application.next_seq = seq + 1
    application.status = target
    session.add(event)
    session.flush()
    return event


def close(application: Application, procedure: ProcedureType | None, now: datetime) -> None:
    """Start the retention clock of an application that reached a final status.

    ``procedure`` is its catalog entry (``None`` if it left the catalog: five years then).
    """
    application.closed_at = now
    years = procedure.retention_years if procedure is not None else DEFAULT_RETENTION_YEARS
    try:
        application.retain_until = now.replace(year=now.year + years)
    except ValueError:  # 29 February → 28 February
        application.retain_until = now.replace(year=now.year + years, day=28)


def opening_of(application: Application, event: ApplicationEvent) -> protocol.EventOpening:
    """The opening of a stored event (what its leaf commits to)."""
    return protocol.EventOpening(
        application_id=event.application_id, procedure_code=application.procedure_code,
        procedure_version=application.procedure_version, seq=event.seq, type=event.type,
        from_status=event.from_status, to_status=event.to_status, occurred_at=event.occurred_at,
        content_hash=event.content_hash, actor=event.actor, signature=event.signature, salt=event.salt,
        nonce=event.nonce, deadline=event.deadline,
    )


def seal_details(session: Session, vault: Vault, application: Application, details: Mapping[str, Any]) -> bytes:
    """``details`` sealed under the application's key, bound to the application."""
    return vault.seal_json(session, application.key_id, dict(details), aad=f"{application.id}:details".encode())


def open_details(session: Session, vault: Vault, application: Application, blob: bytes) -> Any:
    """Details sealed by ``seal_details``.

    Raises:
        RecordErased: the application's key was erased.
    """
    return vault.open_json(session, application.key_id, blob, aad=f"{application.id}:details".encode())


#: What a notification says, by kind (personal details stay in the application itself).
MESSAGES: dict[str, dict[str, str]] = {
    "submitted": {"en": "Your application was received.", "ja": "申請を受け付けました。"},
    "returned": {"en": "Your application needs corrections before the deadline.",
                 "ja": "申請の補正が必要です。期限までに再提出してください。"},
    "approved": {"en": "Your application was approved.", "ja": "申請が承認されました。"},
    "rejected": {"en": "Your application was rejected.", "ja": "申請が却下されました。"},
    "withdrawn": {"en": "Your application was withdrawn.", "ja": "申請を取り下げました。"},
    "lapsed": {"en": "The correction deadline passed; the application lapsed.",
               "ja": "補正期限を過ぎたため、申請は失効しました。"},
    "resubmitted": {"en": "Your corrected application was received.", "ja": "補正後の申請を受け付けました。"},
    "fee_paid": {"en": "The fee was paid.", "ja": "手数料の支払いが完了しました。"},
    "fee_failed": {"en": "The fee payment failed; the application cannot be approved.",
                   "ja": "手数料の支払いに失敗しました。"},
    "fee_refunded": {"en": "The fee was refunded to your wallet.", "ja": "手数料を返金しました。"},
    "benefit_paid": {"en": "The benefit was credited to your wallet as points (spent first at shops).",
                     "ja": "給付金をポイントで付与しました（お店での支払いに先に使われます）。"},
    "points_expiring": {"en": "Some of your points expire soon: use them at a shop before then.",
                        "ja": "ポイントの有効期限が近づいています。期限までにお店でお使いください。"},
    "benefit_failed": {"en": "The benefit could not be paid; the city will contact you.",
                       "ja": "給付金を支給できませんでした。市からご連絡します。"},
}


def notify(session: Session, application: Application, kind: str, **data: Any) -> Notification:
    """Add a notification for the applicant (``data``: non-personal values such as deadlines, amounts)."""
    row = Notification(wallet=application.applicant, application_id=application.id, kind=kind, data=data)
    session.add(row)
    return row
