"""The transition table, exhaustively: every action × actor from every status, allowed or refused.

``lapse`` is the system's alone (no endpoint); it is covered in ``test_deadlines.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from procedures.applications import transitions
from procedures.applications.models import Status
from tests.procedures.applications.conftest import FORMS, Builder, correction_deadline, staff_post

STATUSES = [s.value for s in Status]
ACTIONS = ["claim", "assign", "approve", "reject", "return", "resubmit", "withdraw"]
ACTORS = ["applicant", "stranger", "clerk", "clerk2", "outsider", "supervisor", "admin"]
RESIDENT_ACTIONS = {"resubmit", "withdraw"}
DECISIONS = {"approve": "approved", "reject": "rejected", "return": "returned"}

#: (status, action, actor) → status after. ``clerk`` is the assignee once the application is claimed.
ALLOWED: dict[tuple[str, str, str], str] = {
    **{("submitted", "claim", a): "in_review" for a in ("clerk", "clerk2", "supervisor", "admin")},
    **{("submitted", "assign", a): "in_review" for a in ("supervisor", "admin")},
    ("submitted", "withdraw", "applicant"): "withdrawn",
    **{("in_review", "assign", a): "in_review" for a in ("supervisor", "admin")},
    **{("in_review", d, a): DECISIONS[d] for d in DECISIONS for a in ("clerk", "supervisor", "admin")},
    ("in_review", "withdraw", "applicant"): "withdrawn",
    ("returned", "resubmit", "applicant"): "resubmitted",
    ("returned", "withdraw", "applicant"): "withdrawn",
    **{("resubmitted", "claim", a): "in_review" for a in ("clerk", "supervisor", "admin")},
    **{("resubmitted", "assign", a): "in_review" for a in ("supervisor", "admin")},
    ("resubmitted", "withdraw", "applicant"): "withdrawn",
}


def expected_refusal(status: str, action: str, actor: str) -> tuple[int, str]:
    """The HTTP status and error code a refused attempt must get."""
    resident_action = action in RESIDENT_ACTIONS
    if actor == "stranger":
        return (404, "not_found") if resident_action else (403, "role_required")
    if actor == "applicant":
        return (409, "invalid_transition") if resident_action else (403, "role_required")
    if resident_action:
        return 403, "role_required"
    if action == "assign" and actor in ("clerk", "clerk2", "outsider"):
        return 403, "role_required"
    if actor == "outsider":
        return 403, "other_department"
    if actor == "clerk2" and (status, action) in (("in_review", "approve"), ("in_review", "reject"),
                                                   ("in_review", "return"), ("resubmitted", "claim")):
        return 403, "not_assignee"
    return 409, "invalid_transition"


def attempt(builder: Builder, app_id: str, action: str, actor: str) -> Any:
    cast, client, filer = builder.cast, builder.client, builder.filer
    person = getattr(cast, actor)
    if action == "resubmit":
        if actor in ("applicant", "stranger"):
            return filer.resubmit(person, app_id, Builder.CODE, {**FORMS[Builder.CODE], "snow_depth_cm": 120})
        return client.post(f"/v1/applications/{app_id}/resubmit", json={}, headers=person.headers)
    if action == "withdraw":
        if actor in ("applicant", "stranger"):
            return filer.withdraw(person, app_id)
        return client.post(f"/v1/applications/{app_id}/withdraw", json={}, headers=person.headers)
    body: dict[str, Any] = {}
    if action == "assign":
        body = {"assignee_id": cast.clerk2.id}
    elif action in ("approve", "reject"):
        body = {"reason": "審査の結果"}
    elif action == "return":
        body = {"reason": "写真が不鮮明です", "correction_deadline": correction_deadline()}
    return staff_post(client, person, app_id, action, **body)


def test_the_table_matches_the_design():
    """Roles per action, as documented in the module (and nothing leads out of a final status)."""
    assert transitions.TRANSITIONS["assign"].roles == {"supervisor", "admin"}
    assert transitions.TRANSITIONS["lapse"].roles == {"system"}
    assert all(not (t.sources & {Status.APPROVED, Status.REJECTED, Status.WITHDRAWN, Status.LAPSED})
               for t in transitions.TRANSITIONS.values())
    assert transitions.allowed_actions("in_review", "clerk", is_assignee=False) == []
    assert transitions.allowed_actions("returned", "resident") == ["resubmit", "withdraw"]


@pytest.mark.parametrize("status", STATUSES)
def test_every_action_and_actor_from(status, builder):
    shared = builder.build(status)
    assert builder.status(shared) == status
    for action in ACTIONS:
        for actor in ACTORS:
            key = (status, action, actor)
            if key in ALLOWED:
                fresh = builder.build(status)
                response = attempt(builder, fresh, action, actor)
                assert response.status_code in (200, 201), f"{key}: {response.text}"
                assert builder.status(fresh) == ALLOWED[key], key
            else:
                response = attempt(builder, shared, action, actor)
                want_status, want_code = expected_refusal(status, action, actor)
                assert (response.status_code, response.json()["error"]["code"]) == (want_status, want_code), \
                    f"{key}: {response.text}"
                assert builder.status(shared) == status, f"{key} changed the status"
