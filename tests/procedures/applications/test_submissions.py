"""Filing: all six procedures, form and attachment validation, signatures, identity level, My Number."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import pytest
from eth_account import Account
from sqlalchemy import select

from procedures.applications.models import Application, ApplicationEvent, Attachment
from procedures.applications.service import catalog
from procedures.crypto import DataKey
from tests.procedures.applications.conftest import ATTACHMENTS, FORMS, PDF, PNG

CODES = sorted(FORMS)


def test_catalog_endpoints_list_the_six_procedures(client):
    listed = client.get("/v1/procedures").json()["data"]
    assert sorted(p["code"] for p in listed) == CODES
    assert all(p["form"] is None and p["title"]["ja"] and p["title"]["en"] for p in listed)
    entry = client.get("/v1/procedures/road-damage").json()
    assert entry["form"]["properties"]["lat"]["x-titles"] == {"ja": "緯度", "en": "Latitude"}
    assert entry["attachments"]["min"] == 1 and "image/png" in entry["attachments"]["types"]
    missing = client.get("/v1/procedures/dog-license")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_procedure"


def test_all_six_procedures_are_filed(client, filer, make_resident, treasury, runtime, coin):
    alice = make_resident(coins=5_000)
    filed = {}
    for code in CODES:
        fee = 600 if code == "residence-certificate" else 0  # 300 coins × 2 copies
        response = filer.submit(alice, code, fee=fee)
        assert response.status_code == 201, f"{code}: {response.text}"
        body = response.json()
        assert body["status"] == "submitted" and body["procedure"]["code"] == code
        assert body["form"] == FORMS[code] and body["fee"] == fee
        assert [a["name"] for a in body["attachments"]] == [n for n, _, _ in ATTACHMENTS.get(code, [])]
        filed[code] = body
    assert filed["childcare-benefit"]["benefit"] == 30_000
    assert filed["residence-certificate"]["fee_status"] == "pending"
    listing = client.get("/v1/applications", headers=alice.headers).json()
    assert {a["id"] for a in listing["data"]} == {b["id"] for b in filed.values()}
    # routed to the catalog's departments
    departments = {code: body["department"] for code, body in filed.items()}
    assert departments["road-damage"] == departments["snow-removal"] == "road-maintenance"
    assert departments["childcare-benefit"] == "child-welfare"
    # the processing deadline: the end of the n-th business day after filing, in the city's time
    clock = runtime.settings.clock
    for code, body in filed.items():
        submitted = datetime.fromisoformat(body["submitted_at"])
        due = datetime.fromisoformat(body["due_at"])
        days = catalog(runtime).get(code).deadline_days
        assert clock.local(due) == clock.end_of_day(clock.business_days_after(submitted, days)), code
        assert clock.calendar.is_business_day(clock.local_date(due)), code


def test_personal_data_is_encrypted_at_rest_per_record(client, filer, make_resident, runtime, engine):
    alice = make_resident()
    app_id = filer.submit(alice, "moving-in", attachments=[("転入届.pdf", "application/pdf", PDF)]).json()["id"]
    second = filer.submit(alice, "childcare-benefit").json()["id"]
    with runtime.sessions() as session:
        app = session.get(Application, app_id)
        other = session.get(Application, second)
        assert app.key_id != other.key_id  # a data key per record
        assert session.get(DataKey, app.key_id).wrapped is not None
        blobs = [app.form_blob] + [e.details_blob or b"" for e in session.scalars(
            select(ApplicationEvent).where(ApplicationEvent.application_id == app_id))]
        attachment = session.scalar(select(Attachment).where(Attachment.application_id == app_id))
        blobs += [attachment.blob, attachment.name_blob]
    with engine.connect() as conn:
        dump = b"".join(str(row).encode() for table in ("applications", "application_events",
                                                           "application_attachments", "application_notifications")
                        for row in conn.exec_driver_sql(f"SELECT * FROM {table}"))  # noqa: S608 - fixed names
    for secret in ("加賀 太郎", "東京都千代田区", "転入届.pdf"):
        assert secret.encode() not in dump
        assert all(secret.encode() not in blob for blob in blobs)
    assert b"%PDF-1.7" not in dump and b"%PDF-1.7" not in attachment.blob


FIELD_ERRORS = [
    # (procedure, form change, expected param, expected code)
    ("childcare-benefit", {"child_name": None}, "form.child_name", "invalid_form"),
    ("childcare-benefit", {"child_birth_date": "2019-02-30"}, "form.child_birth_date", "invalid_form"),
    ("childcare-benefit", {"relationship": "uncle"}, "form.relationship", "invalid_form"),
    ("childcare-benefit", {"lives_with_child": False}, "form.lives_with_child", "invalid_form"),
    ("childcare-benefit", {"favourite_colour": "blue"}, "form.favourite_colour", "invalid_form"),
    ("residence-certificate", {"copies": 0}, "form.copies", "invalid_form"),
    ("residence-certificate", {"copies": "two"}, "form.copies", "invalid_form"),
    ("moving-in", {"household": [{"name": "加賀 太郎", "birth_date": "1985-05-05"}]},
     "form.household[0].relationship", "invalid_form"),
    ("road-damage", {"lat": 35.6812, "long": 139.7671}, "form.lat", "outside_city"),  # Tokyo station
    ("snow-removal", {"snow_depth_cm": -5}, "form.snow_depth_cm", "invalid_form"),
    ("vacant-house-bank", {"built_year": 1700}, "form.built_year", "invalid_form"),
]


def test_schema_errors_point_at_the_field(client, filer, make_resident):
    alice = make_resident()
    for code, change, param, error_code in FIELD_ERRORS:
        form = {k: v for k, v in {**FORMS[code], **change}.items() if v is not None}
        response = filer.submit(alice, code, form=form)
        assert response.status_code == 422, (code, change, response.text)
        error = response.json()["error"]
        assert (error["code"], error["param"]) == (error_code, param), (code, change, error)
    body = filer.body(alice, "vacant-house-bank")
    body["form"]["land_area_m2"] = float("nan")  # JSON parsers let NaN through; the service must not
    response = client.post("/v1/applications", content=json.dumps(body),
                           headers={**alice.headers, "Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["error"]["param"] == "form.land_area_m2"
    assert client.get("/v1/applications", headers=alice.headers).json()["data"] == []


BAD_ATTACHMENTS = [
    ("road-damage", [], "attachments", "invalid_attachments"),  # the photo is required
    ("road-damage", [("p.gif", "image/gif", b"GIF89a...")], "attachments[0].content_type", "invalid_attachments"),
    ("road-damage", [("p.png", "image/png", b"not really a png")], "attachments[0].data", "invalid_attachments"),
    ("road-damage", [("p.png", "image/png", PNG + b"\0" * 5_000_000)], "attachments[0].data", "attachment_too_large"),
    ("residence-certificate", [("x.pdf", "application/pdf", PDF)], "attachments", "invalid_attachments"),
]


def test_attachment_rules(client, filer, make_resident):
    alice = make_resident()
    for code, files, param, error_code in BAD_ATTACHMENTS:
        response = filer.submit(alice, code, attachments=files)
        assert response.status_code == 422, (code, param, response.text)
        assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (error_code, param)


def test_attachments_are_downloadable_by_their_owner_only(client, filer, make_resident):
    alice, bob = make_resident(), make_resident()
    app = filer.submit(alice, "road-damage").json()
    [meta] = app["attachments"]
    url = f"/v1/applications/{app['id']}/attachments/{meta['id']}"
    got = client.get(url, headers=alice.headers)
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"
    assert client.get(url, headers=bob.headers).status_code == 404


def test_the_submission_must_be_signed_by_the_wallet(client, filer, make_resident):
    import time

    alice = make_resident()
    cases = [  # (what goes wrong, signing overrides, expected error code)
        ("wrong key", {"sign_as": Account.create()}, "invalid_signature"),
        ("other chain", {"chain_id": 1}, "invalid_signature"),
        ("other ledger", {"ledger": Account.create().address}, "invalid_signature"),
        ("expired", {"deadline": int(time.time()) - 1}, "signature_expired"),
        ("too far ahead", {"deadline": int(time.time()) + 3 * 86400}, "deadline_too_far"),
        ("form changed after signing", {}, "invalid_signature"),
    ]
    for case, overrides, code in cases:
        body = filer.body(alice, "snow-removal", **overrides)
        if case == "form changed after signing":
            body["form"]["snow_depth_cm"] = 300
        response = client.post("/v1/applications", json=body, headers=alice.headers)
        assert response.status_code == 422, (case, response.text)
        assert response.json()["error"]["code"] == code, case
    assert client.get("/v1/applications", headers=alice.headers).json()["data"] == []


def test_a_signature_nonce_is_single_use(client, filer, make_resident):
    alice = make_resident()
    body = filer.body(alice, "snow-removal")
    assert client.post("/v1/applications", json=body, headers=alice.headers).status_code == 201
    again = client.post("/v1/applications", json=body, headers=alice.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "nonce_reused"


def test_the_wallet_needs_the_procedures_assurance_level(client, filer, make_resident):
    card_only = make_resident(level=1)
    refused = filer.submit(card_only, "childcare-benefit")  # needs resident-of-the-city (2)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "assurance_level_too_low"
    assert filer.submit(card_only, "road-damage").status_code == 201  # level 1 suffices


def test_outdated_form_version_and_unknown_procedure(client, filer, make_resident):
    alice = make_resident()
    outdated = filer.submit(alice, "snow-removal", version=2)
    assert outdated.status_code == 409 and outdated.json()["error"]["code"] == "form_version_outdated"
    body = filer.body(alice, "snow-removal")
    body["procedure"] = "dog-license"
    assert client.post("/v1/applications", json=body, headers=alice.headers).status_code == 404


@pytest.mark.parametrize("where", ["form", "attachment_name"])
def test_my_number_is_refused_anywhere(client, filer, make_resident, where):
    alice = make_resident()
    my_number = "1234 5678 9018"  # a valid check digit in the card's 4-4-4 grouping
    if where == "form":
        form = {**FORMS["childcare-benefit"], "notes": f"個人番号 {my_number}"}
        response = filer.submit(alice, "childcare-benefit", form=form)
        param = "form.notes"
    else:
        response = filer.submit(alice, "childcare-benefit",
                                attachments=[(f"card {my_number}.pdf", "application/pdf", PDF)])
        param = "attachments[0]"
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "my_number_refused" and error["param"] == param
    assert "5678" not in error["message"]


def test_fee_must_be_paid_with_the_submission(client, filer, make_resident, treasury):
    alice = make_resident(coins=1_000)
    unpaid = filer.submit(alice, "residence-certificate")
    assert unpaid.status_code == 422 and unpaid.json()["error"]["param"] == "payment"
    short = filer.submit(alice, "residence-certificate", fee=300)  # 2 copies cost 600
    assert short.status_code == 422 and short.json()["error"]["code"] == "wrong_amount"
    free = filer.submit(alice, "snow-removal", fee=100)
    assert free.status_code == 422 and free.json()["error"]["code"] == "no_fee_due"
    poor = make_resident(coins=100)
    broke = filer.submit(poor, "residence-certificate", fee=600)
    assert broke.status_code == 409 and broke.json()["error"]["code"] == "insufficient_balance"
    assert client.get("/v1/applications", headers=poor.headers).json()["data"] == []


def test_residents_cannot_see_each_others_applications(client, filer, make_resident):
    alice, bob = make_resident(), make_resident()
    app_id = filer.submit(alice, "snow-removal").json()["id"]
    assert client.get(f"/v1/applications/{app_id}", headers=bob.headers).status_code == 404
    assert client.get(f"/v1/applications/{app_id}/receipt", headers=bob.headers).status_code == 404
    assert client.get(f"/v1/applications/{app_id}").status_code == 401
    notes = client.get("/v1/notifications", headers=alice.headers).json()["data"]
    assert [n["kind"] for n in notes] == ["submitted"] and notes[0]["message"]["ja"]
    assert client.get("/v1/notifications", headers=bob.headers).json()["data"] == []
    read = client.post(f"/v1/notifications/{notes[0]['id']}/read", headers=alice.headers).json()
    assert read["read_at"] is not None
    assert client.get("/v1/notifications?unread=true", headers=alice.headers).json()["data"] == []


def test_base64_must_be_valid(client, filer, make_resident):
    alice = make_resident()
    body = filer.body(alice, "road-damage")
    body["attachments"][0]["data"] = "!!!" + base64.b64encode(PNG).decode()
    response = client.post("/v1/applications", json=body, headers=alice.headers)
    assert response.status_code == 422 and response.json()["error"]["param"] == "attachments[0].data"
