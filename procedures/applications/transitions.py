"""The explicit transition table of e-applications, with the roles allowed to take each one.

::

    (new) ──submit──▶ submitted ──claim/assign──▶ in_review ──approve──▶ approved
                                                     │  ├────reject───▶ rejected
                                                     │  └────return───▶ returned ──resubmit──▶ resubmitted
                                                     │                     │                       │
                                                     │                     └─lapse (deadline)─▶ lapsed
                                                     └◀──────────── claim/assign ──────────────────┘
    submitted | in_review | returned | resubmitted ──withdraw (the applicant)──▶ withdrawn

Roles: ``resident`` (the applicant only), ``clerk`` (of the routed department; deciding needs the
application to be assigned to them), ``supervisor`` (of the department, or of all when they have
none; may assign to others and decide), ``admin`` (everything staff may do), ``system`` (workers).
"""

from __future__ import annotations

from dataclasses import dataclass

from procedures.applications.models import Status
from procedures.errors import Conflict, PermissionDenied

STAFF = frozenset({"clerk", "supervisor", "admin"})
SENIOR = frozenset({"supervisor", "admin"})


@dataclass(frozen=True)
class Transition:
    """One action: the statuses it may start from, where it leads, who may take it.

    Attributes:
        action: its name (the API verb).
        event: the event type it records.
        sources: statuses it may start from.
        target: the status it leads to.
        roles: principal roles allowed.
        assignee_only: clerks may take it only on applications assigned to them.
    """

    action: str
    event: str
    sources: frozenset[Status]
    target: Status
    roles: frozenset[str]
    assignee_only: bool = False


def _t(action: str, event: str, sources: set[Status], target: Status, roles: set[str] | frozenset[str],
       assignee_only: bool = False) -> Transition:
    return Transition(action, event, frozenset(sources), target, frozenset(roles), assignee_only)


S = Status
OPEN_FOR_REVIEW = {S.SUBMITTED, S.RESUBMITTED}

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t("claim", "assigned", OPEN_FOR_REVIEW, S.IN_REVIEW, STAFF),
        _t("assign", "assigned", OPEN_FOR_REVIEW | {S.IN_REVIEW}, S.IN_REVIEW, SENIOR),
        _t("approve", "approved", {S.IN_REVIEW}, S.APPROVED, STAFF, assignee_only=True),
        _t("reject", "rejected", {S.IN_REVIEW}, S.REJECTED, STAFF, assignee_only=True),
        _t("return", "returned", {S.IN_REVIEW}, S.RETURNED, STAFF, assignee_only=True),
        _t("resubmit", "resubmitted", {S.RETURNED}, S.RESUBMITTED, {"resident"}),
        _t("withdraw", "withdrawn", {S.SUBMITTED, S.IN_REVIEW, S.RETURNED, S.RESUBMITTED}, S.WITHDRAWN, {"resident"}),
        _t("lapse", "lapsed", {S.RETURNED}, S.LAPSED, {"system"}),
    )
}


class InvalidTransition(Conflict):
    """The application's status does not allow this action."""

    code = "invalid_transition"


def check(action: str, status: str, role: str, *, is_assignee: bool = True) -> Transition:
    """The transition ``action`` if ``role`` may take it from ``status``.

    Args:
        action: a key of ``TRANSITIONS``.
        status: the application's current status.
        role: the caller's role (``resident``, ``clerk``, ``supervisor``, ``admin``, ``system``).
        is_assignee: whether the caller is the application's assignee (clerks must be, for decisions).

    Raises:
        PermissionDenied: the role may never take this action, or a clerk is not the assignee.
        InvalidTransition: not from this status.
    """
    transition = TRANSITIONS[action]
    if role not in transition.roles:
        raise PermissionDenied(f"a {role} cannot {action} an application", code="role_not_allowed")
    if Status(status) not in transition.sources:
        allowed = ", ".join(sorted(transition.sources))
        raise InvalidTransition(f"cannot {action} an application that is {status} (only from: {allowed})")
    if transition.assignee_only and role == "clerk" and not is_assignee:
        raise PermissionDenied("this application is assigned to another clerk; claim it or ask a supervisor",
                               code="not_assignee")
    return transition


def allowed_actions(status: str, role: str, *, is_assignee: bool = True) -> list[str]:
    """The actions ``role`` may take on an application in ``status`` (for clients' buttons)."""
    actions = []
    for name, transition in TRANSITIONS.items():
        if role in transition.roles and Status(status) in transition.sources:
            if transition.assignee_only and role == "clerk" and not is_assignee:
                continue
            actions.append(name)
    return actions
