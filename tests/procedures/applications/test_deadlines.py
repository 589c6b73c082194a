"""Correction requests (補正) and their deadline; retention and crypto-erasure."""

from __future__ import annotations

from datetime import timedelta

from chain.storage import utcnow
from procedures.applications.jobs import deadline_sweep, retention_sweep
from procedures.applications.models import Application
from procedures.crypto import DataKey, RecordErased
from tests.procedures.applications.conftest import FORMS, PNG, correction_deadline, staff_post


def test_return_needs_a_reason_and_a_future_deadline(client, builder):
    clerk = builder.cast.clerk
    app_id = builder.build("in_review")
    reason = "写真が必要です"
    for body, code in [({"reason": "", "correction_deadline": correction_deadline()}, "reason_required"),
                       ({"reason": reason, "correction_deadline": correction_deadline(-1)}, "invalid_deadline"),
                       ({"reason": reason, "correction_deadline": correction_deadline(365)}, "invalid_deadline")]:
        response = staff_post(client, clerk, app_id, "return", **body)
        assert response.status_code == 422 and response.json()["error"]["code"] == code, response.text
    missing = staff_post(client, clerk, app_id, "return", reason="写真が必要です")
    assert missing.status_code == 422 and missing.json()["error"]["param"] == "correction_deadline"
    assert builder.status(app_id) == "in_review"


def test_correction_round_trip(client, builder, filer):
    """Returned with a reason and deadline → the resident sees both, resubmits (signed again) → reviewed again."""
    cast = builder.cast
    app_id = builder.build("returned")
    view = client.get(f"/v1/applications/{app_id}", headers=cast.applicant.headers).json()
    assert view["correction"]["reason"] == "写真を追加してください" and view["correction"]["deadline"]
    assert view["allowed_actions"] == ["resubmit", "withdraw"]
    notes = client.get("/v1/notifications", headers=cast.applicant.headers).json()["data"]
    assert notes[0]["kind"] == "returned" and notes[0]["data"]["correction_deadline"]

    corrected = {**FORMS["snow-removal"], "snow_depth_cm": 110, "description": "玄関前に1m以上"}
    response = filer.resubmit(cast.applicant, app_id, "snow-removal", corrected,
                              attachments=[("snow.png", "image/png", PNG)])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "resubmitted" and body["revision"] == 2 and body["form"] == corrected
    assert [a["name"] for a in body["attachments"]] == ["snow.png"]
    assert staff_post(client, cast.clerk, app_id, "claim").status_code == 200
    assert staff_post(client, cast.clerk, app_id, "approve").status_code == 200
    events = [e["type"] for e in client.get(f"/v1/applications/{app_id}", headers=cast.applicant.headers)
              .json()["events"]]
    assert events == ["submitted", "assigned", "returned", "resubmitted", "assigned", "approved"]


def test_resubmission_keeps_files_unless_replaced(client, builder, filer, make_staff):
    cast = builder.cast
    road_clerk = cast.clerk
    app = filer.submit(cast.applicant, "road-damage").json()
    staff_post(client, road_clerk, app["id"], "claim")
    staff_post(client, road_clerk, app["id"], "return", reason="位置を確認してください",
               correction_deadline=correction_deadline())
    keep = [{k: a[k] for k in ("name", "content_type", "size", "sha256")} for a in app["attachments"]]
    moved = {**FORMS["road-damage"], "lat": 36.3101}
    response = filer.resubmit(cast.applicant, app["id"], "road-damage", moved, keep=keep)
    assert response.status_code == 200, response.text
    [kept] = response.json()["attachments"]
    assert kept["sha256"] == app["attachments"][0]["sha256"] and kept["name"] == "pothole.png"
    got = client.get(f"/v1/applications/{app['id']}/attachments/{kept['id']}", headers=cast.applicant.headers)
    assert got.content == PNG


def test_correction_deadline_passing_lapses_the_application(client, builder, filer, runtime):
    cast = builder.cast
    app_id = builder.build("returned")
    on_time = builder.build("returned")
    builder.expire_correction(app_id)
    late = filer.resubmit(cast.applicant, app_id, "snow-removal", FORMS["snow-removal"])
    assert late.status_code == 409 and late.json()["error"]["code"] == "correction_deadline_passed"

    result = deadline_sweep(runtime)
    assert result.lapsed == 1
    assert deadline_sweep(runtime).lapsed == 0  # idempotent
    assert builder.status(app_id) == "lapsed" and builder.status(on_time) == "returned"
    view = client.get(f"/v1/applications/{app_id}", headers=cast.applicant.headers).json()
    assert view["events"][-1]["type"] == "lapsed" and view["events"][-1]["actor_type"] == "system"
    assert view["allowed_actions"] == []
    assert "lapsed" in [n["kind"] for n in client.get("/v1/notifications", headers=cast.applicant.headers)
                        .json()["data"]]
    with runtime.sessions() as session:
        assert session.get(Application, app_id).retain_until is not None


def test_retention_end_erases_the_record_by_deleting_its_key(client, builder, filer, runtime):
    cast = builder.cast
    old = filer.submit(cast.applicant, "road-damage").json()
    keep = builder.build("approved")
    staff_post(client, cast.clerk, old["id"], "claim")
    staff_post(client, cast.clerk, old["id"], "reject", reason="既に補修済みです")
    with runtime.sessions() as session, session.begin():
        row = session.get(Application, old["id"])
        assert row.retain_until is not None and row.retain_until > utcnow() + timedelta(days=3 * 365)
        row.retain_until = utcnow() - timedelta(seconds=1)  # three years later…
        key_id = row.key_id

    assert retention_sweep(runtime).erased == 1
    assert retention_sweep(runtime).erased == 0
    with runtime.sessions() as session:
        row = session.get(Application, old["id"])
        assert row.erased_at is not None and session.get(DataKey, key_id).wrapped is None
        try:
            runtime.vault.open(session, key_id, row.form_blob, aad=f"{row.id}:form".encode())
            raise AssertionError("an erased record must not decrypt")
        except RecordErased:
            pass
    view = client.get(f"/v1/applications/{old['id']}", headers=cast.applicant.headers).json()
    assert view["erased"] is True and view["form"] is None and view["form_access"] == "erased"
    assert view["attachments"][0]["name"] is None and view["status"] == "rejected"
    assert view["events"][-1]["type"] == "erased"
    attachment = client.get(f"/v1/applications/{old['id']}/attachments/{old['attachments'][0]['id']}",
                            headers=cast.applicant.headers)
    assert attachment.status_code == 410 and attachment.json()["error"]["code"] == "record_erased"
    clerk_view = client.get(f"/v1/clerk/applications/{old['id']}", headers=cast.clerk.headers).json()
    assert clerk_view["form"] is None and clerk_view["form_access"] == "erased"
    # the other application is untouched
    assert client.get(f"/v1/applications/{keep}", headers=cast.applicant.headers).json()["form"] is not None
