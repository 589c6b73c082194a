"""The clerks' side: queue filters and paging, department scoping, audited reads, comments, assignment."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from chain.storage import utcnow
from procedures.applications import service
from procedures.applications.models import Application
from procedures.auth.service import Principal
from tests.procedures.applications.conftest import PNG, staff_post


def _queue(client, staff, **params):
    response = client.get("/v1/clerk/applications", params=params, headers=staff.headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_queue_filters_and_cursor_paging(client, filer, make_resident, make_staff, runtime):
    alice = make_resident()
    road, road2 = make_staff("clerk", "road-maintenance"), make_staff("clerk", "road-maintenance")
    child = make_staff("clerk", "child-welfare")
    admin = make_staff("admin", None)
    snow = [filer.submit(alice, "snow-removal").json()["id"] for _ in range(5)]
    childcare = filer.submit(alice, "childcare-benefit").json()["id"]
    staff_post(client, road, snow[0], "claim")
    staff_post(client, road2, snow[1], "claim")
    with runtime.sessions() as session, session.begin():
        session.get(Application, snow[2]).due_at = utcnow() - timedelta(hours=1)

    # clerks see their department only, oldest first
    assert [a["id"] for a in _queue(client, road)["data"]] == snow
    assert [a["id"] for a in _queue(client, child)["data"]] == [childcare]
    other = client.get("/v1/clerk/applications", params={"department": "child-welfare"}, headers=road.headers)
    assert other.status_code == 403 and other.json()["error"]["code"] == "other_department"
    assert len(_queue(client, admin)["data"]) == 6
    assert [a["id"] for a in _queue(client, admin, department="child-welfare")["data"]] == [childcare]
    # filters
    assert [a["id"] for a in _queue(client, road, assignee="me")["data"]] == [snow[0]]
    assert [a["id"] for a in _queue(client, road, assignee=str(road2.id))["data"]] == [snow[1]]
    assert [a["id"] for a in _queue(client, road, assignee="none")["data"]] == snow[2:]
    assert [a["id"] for a in _queue(client, road, status="in_review")["data"]] == snow[:2]
    overdue = _queue(client, road, overdue="true")["data"]
    assert [a["id"] for a in overdue] == [snow[2]] and overdue[0]["overdue"] is True
    assert len(_queue(client, road, overdue="false")["data"]) == 4
    bad = client.get("/v1/clerk/applications", params={"status": "lost"}, headers=road.headers)
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "status"
    # paging
    first = _queue(client, road, limit=2)
    assert first["has_more"] and [a["id"] for a in first["data"]] == snow[:2]
    second = _queue(client, road, limit=2, starting_after=first["next_cursor"])
    third = _queue(client, road, limit=2, starting_after=second["next_cursor"])
    assert [a["id"] for a in second["data"] + third["data"]] == snow[2:] and not third["has_more"]
    # newest first (the console's sort), ordered and paged by the database
    clerk = Principal(type="staff", subject=str(road.id), role="clerk", department="road-maintenance")
    with runtime.sessions() as session:
        newest = service.queue(session, clerk, service.QueueFilter(), 3, None, newest_first=True)
        rest = service.queue(session, clerk, service.QueueFilter(), 3, newest[-1].id, newest_first=True)
    assert [a.id for a in newest + rest] == snow[::-1]
    # the console dashboard's panel: open applications and overdue ones by department
    from procedures.console.panels import applications_panel

    def panel(role: str, department: str | None) -> list[tuple[str, int, int]]:
        user = SimpleNamespace(role=role, account=SimpleNamespace(department=department))
        with runtime.sessions() as session:
            return applications_panel(session, runtime, user, "ja")["rows"]  # type: ignore[arg-type,return-value]

    assert panel("admin", None) == [("子育て支援課", 1, 0), ("土木課", 5, 1)]  # departments by name
    assert panel("clerk", "road-maintenance") == [("土木課", 5, 1)]
    # the queue carries no personal data
    assert all("form" not in item for item in first["data"])
    # residents cannot use the clerk API
    assert client.get("/v1/clerk/applications", headers=alice.headers).status_code == 403


def test_personal_data_only_for_the_routed_department_and_every_read_is_audited(
    client, filer, make_resident, make_staff
):
    alice = make_resident()
    road, child = make_staff("clerk", "road-maintenance"), make_staff("clerk", "child-welfare")
    supervisor = make_staff("supervisor", "road-maintenance")
    app = filer.submit(alice, "road-damage").json()
    [attachment] = app["attachments"]

    own = client.get(f"/v1/clerk/applications/{app['id']}", headers=road.headers).json()
    assert own["form_access"] == "granted" and own["form"]["description"] and own["applicant"] == alice.address
    outsider = client.get(f"/v1/clerk/applications/{app['id']}", headers=child.headers).json()
    assert outsider["form_access"] == "denied" and outsider["form"] is None and outsider["applicant"] is None
    assert outsider["attachments"][0]["name"] is None and outsider["allowed_actions"] == []
    denied = client.get(f"/v1/clerk/applications/{app['id']}/attachments/{attachment['id']}", headers=child.headers)
    assert denied.status_code == 403
    photo = client.get(f"/v1/clerk/applications/{app['id']}/attachments/{attachment['id']}", headers=road.headers)
    assert photo.status_code == 200 and photo.content == PNG

    log = client.get(f"/v1/clerk/applications/{app['id']}/access-log", headers=supervisor.headers)
    assert log.status_code == 200
    assert [(r["staff_id"], r["what"]) for r in log.json()] == [
        (road.id, "record"), (road.id, f"attachment:{attachment['id']}")]
    assert client.get(f"/v1/clerk/applications/{app['id']}/access-log", headers=road.headers).status_code == 403


def test_comments_and_assignment(client, filer, make_resident, make_staff):
    alice = make_resident()
    road, road2 = make_staff("clerk", "road-maintenance"), make_staff("clerk", "road-maintenance")
    child = make_staff("clerk", "child-welfare")
    supervisor = make_staff("supervisor", "road-maintenance")
    app_id = filer.submit(alice, "snow-removal").json()["id"]

    wrong_dept = staff_post(client, supervisor, app_id, "assign", assignee_id=child.id)
    assert wrong_dept.status_code == 422 and wrong_dept.json()["error"]["code"] == "assignee_other_department"
    nobody = staff_post(client, supervisor, app_id, "assign", assignee_id=999_999)
    assert nobody.status_code == 422 and nobody.json()["error"]["code"] == "unknown_assignee"
    assigned = staff_post(client, supervisor, app_id, "assign", assignee_id=road2.id)
    assert assigned.status_code == 200 and assigned.json()["assignee_id"] == road2.id
    assert assigned.json()["status"] == "in_review"
    taken = staff_post(client, road, app_id, "approve")
    assert taken.status_code == 403 and taken.json()["error"]["code"] == "not_assignee"

    comment = staff_post(client, road, app_id, "comments", text="除雪車の手配済み")
    assert comment.status_code == 201
    assert comment.json()["comments"] == [{"seq": 2, "staff_id": str(road.id), "text": "除雪車の手配済み",
                                           "at": comment.json()["comments"][0]["at"]}]
    empty = staff_post(client, road, app_id, "comments", text="  ")
    assert empty.status_code == 422
    my_number = staff_post(client, road, app_id, "comments", text="番号 123456789018")
    assert my_number.status_code == 422 and my_number.json()["error"]["code"] == "my_number_refused"
    assert staff_post(client, child, app_id, "comments", text="見ました").status_code == 403
    # comments are internal: the resident sees the event, not the text
    resident_view = client.get(f"/v1/applications/{app_id}", headers=alice.headers).json()
    assert resident_view["comments"] is None and resident_view["events"][-1]["type"] == "commented"
