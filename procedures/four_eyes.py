"""Four eyes: an action one staff member records and a second one approves (top-ups over
``topup_four_eyes_yen``, unfreezes). One status word and one pair of errors for all of them."""

from __future__ import annotations

from procedures.errors import Conflict, PermissionDenied

#: The status of an action recorded but not yet approved by a second staff member (nothing queued yet).
AWAITING = "awaiting"


class SameStaffMember(PermissionDenied):
    """The staff member who recorded an action cannot also approve it."""

    code = "same_staff_member"

    def __init__(self, what: str) -> None:
        super().__init__(f"a second staff member must approve this {what}: you recorded it")


class NotAwaitingApproval(Conflict):
    """The action is not (or no longer) awaiting a second staff member's approval."""

    code = "not_awaiting_approval"

    def __init__(self, what: str, status: str | None = None) -> None:
        super().__init__(f"this {what} is {status}, not awaiting approval" if status
                         else f"this {what} is not awaiting approval")


def check_approver(recorded_by: str, approver: str, what: str) -> None:
    """Refuse the approval of the one who recorded the action.

    Raises:
        SameStaffMember: ``approver`` is ``recorded_by``.
    """
    if recorded_by == approver:
        raise SameStaffMember(what)
