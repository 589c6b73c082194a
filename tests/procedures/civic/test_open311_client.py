"""An Open311 client's whole story against the real service over HTTP: it files a report with a photo,
follows its token to a public request, lists it, and follows it until it is closed as fixed — speaking
only GeoReport v2 (the clerks act through their own API meanwhile). Then anyone checks the report's
history against the chain."""

from __future__ import annotations

import httpx

from protocol.receipts import ledger_client, verify_receipt
from tests.procedures.applications.conftest import wait_until
from tests.procedures.civic.conftest import PNG, pothole


def test_an_open311_client_files_lists_and_follows_a_report_to_fixed(live_server, api_key, make_staff, w3):
    clerk = make_staff("clerk", "road-maintenance")
    app = httpx.Client(base_url=f"{live_server}/open311/v2", timeout=30)  # the third-party app
    city = httpx.Client(base_url=f"{live_server}/v1/clerk/civic", headers=clerk.headers, timeout=30)

    services = app.get("/services.json").json()
    assert "road-damage" in [s["service_code"] for s in services]
    definition = app.get("/services/road-damage.json").json()
    kinds = next(a for a in definition["attributes"] if a["code"] == "service_code")["values"]
    fields = pothole(api_key, **{"attribute[service_code]": kinds[0]["key"], "email": "reporter@example.jp"})
    posted = app.post("/requests.json", data=fields, files=[("media", ("pothole.png", PNG, "image/png"))])
    assert posted.status_code == 201, posted.text
    token = posted.json()[0]["token"]
    assert app.get(f"/tokens/{token}.json").json()[0]["service_request_id"] is None

    # the city reviews: lists it, releases a description without the reporter's words, and the photo
    [report] = city.get("/reports", params={"status": "submitted"}).json()
    assert report["verified"] is False and report["description"] == "深さ10cmほどの穴があります"
    reviewed = city.post(f"/reports/{report['id']}/review",
                         json={"listed": True, "description": "大聖寺駅前の路面に穴", "photo_public": True})
    assert reviewed.status_code == 200, reviewed.text

    request_id = app.get(f"/tokens/{token}.json").json()[0]["service_request_id"]
    assert request_id == report["id"]
    [public] = app.get(f"/requests/{request_id}.json").json()
    assert (public["status"], public["description"]) == ("open", "大聖寺駅前の路面に穴")
    photo = httpx.get(public["media_url"], timeout=30)
    assert photo.status_code == 200 and photo.content == PNG and photo.headers["content-type"] == "image/png"
    listed = app.get("/requests.json", params={"status": "open"}).json()
    assert request_id in [r["service_request_id"] for r in listed]

    for step in ({"status": "acknowledged"}, {"status": "in_progress", "reason": "補修班が向かっています"},
                 {"status": "closed", "resolution": "fixed"}):
        changed = city.post(f"/reports/{request_id}/status", json=step)
        assert changed.status_code == 200, changed.text
        [public] = app.get(f"/requests/{request_id}.json", params={"lang": "en"}).json()
        assert public["detailed_status"] == step["status"]  # published as soon as the clerk's answer came
    assert (public["status"], public["status_notes"]) == ("closed", "fixed")
    closed = app.get("/requests.json", params={"status": "closed"}).json()
    assert request_id in [r["service_request_id"] for r in closed]
    assert app.get("/requests.json", params={"status": "open"}).json() == []

    # anyone: the history is anchored in ProcedureLedger, every event verifies against the chain
    def anchored():
        history = httpx.get(public["history_url"], timeout=30).json()
        return history if all(e["anchor"] for e in history["events"]) else None

    history = wait_until(anchored, what="the anchored history")
    types = [e["type"] for e in history["events"]]
    assert types == ["reported", "civic_reviewed", "assigned", "civic_in_progress", "approved"]
    check = verify_receipt(w3, ledger_client(w3, history["ledger"]), history)
    assert check.ok, check.problems or [e.reason for e in check.events]
    assert "reporter@example.jp" not in str(history)
