"""E-application services: residents file, correct and withdraw; staff claim, assign and decide.

Data flows one way: routes → these functions → the records (events, notifications), the payments
core (fees, refunds), the outbox (benefits). Every function works in the caller's transaction and
locks the application row before changing it; the transition table
(``procedures.applications.transitions``) decides what is allowed.

Rooms: ``residents`` (what residents do), ``staff`` (the queue and what staff do), ``files`` (the
sealed answers and attachments), ``common`` (catalog, signing domain, input guards, history reads).
Callers use this package's names (``service.submit``, ``service.decide``…).
"""

from procedures.applications.service.common import (
    ResidentSignature,
    UploadedFile,
    catalog,
    events_of,
    finite_numbers,
    latest_details,
    no_my_number,
    signing_domain,
)
from procedures.applications.service.files import attachment_bytes, attachment_name, current_attachments, read_form
from procedures.applications.service.residents import (
    MAX_SIGNATURE_WINDOW_S,
    own_application,
    own_applications,
    resubmit,
    submit,
    withdraw,
)
from procedures.applications.service.staff import (
    AWAITING_THE_CITY,
    MAX_CORRECTION_DAYS,
    MAX_REASON,
    MIN_REASON,
    QueueFilter,
    access_log,
    assign,
    audit_read,
    can_access,
    claim,
    comment,
    decide,
    is_overdue,
    overdue_condition,
    queue,
    staff_application,
    staff_note,
)

__all__ = [
    "AWAITING_THE_CITY",
    "MAX_CORRECTION_DAYS",
    "MAX_REASON",
    "MAX_SIGNATURE_WINDOW_S",
    "MIN_REASON",
    "QueueFilter",
    "ResidentSignature",
    "UploadedFile",
    "access_log",
    "assign",
    "attachment_bytes",
    "attachment_name",
    "audit_read",
    "can_access",
    "catalog",
    "claim",
    "comment",
    "current_attachments",
    "decide",
    "events_of",
    "finite_numbers",
    "is_overdue",
    "latest_details",
    "no_my_number",
    "own_application",
    "own_applications",
    "overdue_condition",
    "queue",
    "read_form",
    "resubmit",
    "signing_domain",
    "staff_application",
    "staff_note",
    "submit",
    "withdraw",
]
