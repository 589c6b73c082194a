"""The road department's side: review before publication, status changes, duplicates merged (one fix closes
all), rewards for linked residents' confirmed reports, e-applications adopted as reports."""

from __future__ import annotations

from sqlalchemy import func, select

from chain.outbox import TxIntent
from procedures.applications.models import Application
from procedures.civic import clerks
from procedures.civic.models import CivicReport
from procedures.civic.reports import adopt_applications
from tests.procedures.applications.conftest import wait_until
from tests.procedures.civic.conftest import pothole


def _file(post_report, resident) -> str:
    response = post_report(pothole(None), headers=resident.headers)
    assert response.status_code == 201, response.text
    return str(response.json()[0]["service_request_id"])


def _public(client, request_id: str) -> dict:
    [one] = client.get(f"/open311/v2/requests/{request_id}.json", params={"lang": "en"}).json()
    return one


def _status(client, clerk, request_id: str, **body):
    return client.post(f"/v1/clerk/civic/reports/{request_id}/status", json=body, headers=clerk.headers)


def test_duplicates_merge_and_one_fix_closes_all(client, runtime, make_resident, make_staff, post_report):
    clerk = make_staff("clerk", "road-maintenance")
    first, second = _file(post_report, make_resident()), _file(post_report, make_resident())
    assert _status(client, clerk, first, status="acknowledged").status_code == 200

    merged = client.post(f"/v1/clerk/civic/reports/{second}/merge", json={"into": first}, headers=clerk.headers)
    assert merged.status_code == 200, merged.text
    assert (_public(client, second)["merged_into"], _public(client, second)["detailed_status"]) == (first,
                                                                                                     "acknowledged")
    refused = _status(client, clerk, second, status="in_progress")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "merged_report"
    assert _status(client, clerk, first, status="in_progress").status_code == 200
    assert _public(client, second)["detailed_status"] == "in_progress"  # the duplicate follows

    assert _status(client, clerk, first, status="closed", resolution="fixed").status_code == 200
    a, b = _public(client, first), _public(client, second)
    assert (a["status"], a["resolution"], b["status"], b["resolution"]) == ("closed", "fixed", "closed", "duplicate")
    assert b["status_notes"] == f"duplicate of {first}"
    with runtime.sessions() as session:
        for request_id in (first, second):
            report = session.get(CivicReport, request_id)
            assert session.get(Application, report.application_id).status == "approved"

    third = _file(post_report, make_resident())
    late = client.post(f"/v1/clerk/civic/reports/{third}/merge", json={"into": first}, headers=clerk.headers)
    assert late.status_code == 409 and late.json()["error"]["code"] == "cannot_merge"
    itself = client.post(f"/v1/clerk/civic/reports/{third}/merge", json={"into": third}, headers=clerk.headers)
    assert itself.status_code == 409


def test_a_linked_residents_confirmed_report_is_rewarded_once(client, runtime, settings, arrange, make_resident,
                                                              make_staff, post_report, api_key):
    clerk = make_staff("clerk", "road-maintenance")
    resident = make_resident()
    request_id = _file(post_report, resident)
    before = arrange.points(resident.address)
    assert _status(client, clerk, request_id, status="acknowledged").status_code == 200
    again = _status(client, clerk, request_id, status="acknowledged")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"
    assert _status(client, clerk, request_id, status="in_progress").status_code == 200

    def paid():
        with runtime.sessions() as session:
            return session.get(CivicReport, request_id).reward_status == "paid"

    wait_until(paid, what="the reward")
    assert arrange.points(resident.address) == before + settings.civic_reward  # a reward is points

    # an app's report (no linked card) is confirmed without a reward
    anonymous = post_report(pothole(api_key)).json()[0]["token"]
    with runtime.sessions() as session:
        other = session.scalar(select(CivicReport).where(CivicReport.token == anonymous))
    assert _status(client, clerk, other.id, status="acknowledged").status_code == 200
    with runtime.sessions() as session:
        assert session.get(CivicReport, other.id).reward_status == "none"
        assert session.get(CivicReport, other.id).listed  # acknowledged: public now (texts still private)
        assert session.scalar(select(func.count(TxIntent.id)).where(TxIntent.kind == clerks.REWARD_KIND)) == 1
    assert _public(client, other.id)["description"] is None


def test_clerks_act_within_their_department_and_their_input_is_checked(client, make_resident, make_staff,
                                                                        post_report):
    clerk, outsider = make_staff("clerk", "road-maintenance"), make_staff("clerk", "child-welfare")
    request_id = _file(post_report, make_resident())
    assert client.get(f"/v1/clerk/civic/reports/{request_id}", headers=outsider.headers).status_code == 403
    assert client.get("/v1/clerk/civic/reports", headers=outsider.headers).json() == []
    [mine] = client.get("/v1/clerk/civic/reports", headers=clerk.headers).json()
    assert (mine["lat"], mine["long"]) == (36.3027, 136.3146)  # clerks see the exact point

    with_number = client.post(f"/v1/clerk/civic/reports/{request_id}/review", headers=clerk.headers,
                              json={"listed": True, "description": "個人番号 123456789018"})
    assert with_number.status_code == 422 and with_number.json()["error"]["code"] == "my_number_refused"
    no_reason = _status(client, clerk, request_id, status="closed", resolution="not_actionable")
    assert no_reason.status_code == 422 and no_reason.json()["error"]["code"] == "reason_required"
    no_resolution = _status(client, clerk, request_id, status="closed")
    assert no_resolution.json()["error"]["code"] == "resolution_required"
    closed = _status(client, clerk, request_id, status="closed", resolution="not_actionable", reason="私有地のため")
    assert closed.status_code == 200, closed.text
    assert _public(client, request_id)["status_notes"] == "closed without action"
    assert _status(client, clerk, request_id, status="in_progress").status_code == 409


def test_a_wallets_civic_e_application_becomes_a_report_whose_history_hides_the_wallet(
        client, runtime, settings, filer, make_resident, make_staff, arrange):
    resident = make_resident()
    submitted = filer.submit(resident, "road-damage")
    assert submitted.status_code == 201, submitted.text
    with runtime.sessions() as session, session.begin():
        assert adopt_applications(session, runtime) == 1
        assert adopt_applications(session, runtime) == 0
        report = session.scalar(select(CivicReport).where(CivicReport.application_id == submitted.json()["id"]))
        assert (report.source, report.verified, report.listed, report.district) == ("wallet", True, True, "daishoji")
    history = client.get(f"/town/reports/{report.id}/history").json()
    assert history["applicant"] is None
    assert history["events"][0]["actor"] is None and history["events"][0]["withheld"] == ["actor", "signature"]
    assert resident.address.lower() not in str(history).lower()

    # a clerk decides it in the e-applications queue: the report follows, the resident is rewarded
    clerk = make_staff("clerk", "road-maintenance")
    before = arrange.points(resident.address)
    for action in ("claim", "approve"):
        response = client.post(f"/v1/clerk/applications/{submitted.json()['id']}/{action}", json={},
                               headers=clerk.headers)
        assert response.status_code == 200, response.text
    with runtime.sessions() as session, session.begin():
        assert clerks.follow_applications(session, runtime) == 1
        assert clerks.follow_applications(session, runtime) == 0
    assert (_public(client, report.id)["status"], _public(client, report.id)["resolution"]) == ("closed", "fixed")

    def paid():
        with runtime.sessions() as session:
            return session.get(CivicReport, report.id).reward_status == "paid"

    wait_until(paid, what="the reward")
    assert arrange.points(resident.address) == before + settings.civic_reward  # a reward is points
