"""Open311 GeoReport v2: services from the catalog, filing (keys, residents), the public view, bad input.

Every assertion reads only what the spec publishes (plus this city's documented extensions).
"""

from __future__ import annotations

import json

from sqlalchemy import func, select

from procedures.applications import service as applications
from procedures.applications.models import Application
from procedures.civic.models import CivicReport
from tests.procedures.civic.conftest import DAISHOJI, JPEG, PNG, YAMANAKA, pothole

#: The fields of the spec's example answers (GeoReport v2: GET services, service definition, requests).
SPEC_SERVICE = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
SPEC_ATTRIBUTE = {"variable", "code", "datatype", "required", "datatype_description", "order", "description"}
SPEC_REQUEST = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"}


def _reports(runtime) -> tuple[int, int]:
    with runtime.sessions() as session:
        return (session.scalar(select(func.count(CivicReport.id))) or 0,
                session.scalar(select(func.count(Application.id))) or 0)


def _error(response, status: int) -> str:
    """The spec's error shape: a list of ``{code, description}``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list) and set(body[0]) == {"code", "description"} and body[0]["code"] == status, body
    return str(body[0]["description"])


def test_services_are_the_civic_procedures_with_their_form_fields_as_attributes(client):
    services = client.get("/open311/v2/services.json").json()
    assert [s["service_code"] for s in services] == ["road-damage", "snow-removal"]
    assert all(set(s) == SPEC_SERVICE for s in services)
    assert services[0]["service_name"] == "道路損傷の通報"
    assert client.get("/open311/v2/services.json", params={"lang": "en"}).json()[0]["service_name"] == \
        "Road damage report"

    road = client.get("/open311/v2/services/road-damage.json", params={"lang": "en"}).json()
    attributes = {a["code"]: a for a in road["attributes"]}
    assert set(attributes) == {"service_code", "hazard"}  # lat, long, address, description are GeoReport fields
    assert all(SPEC_ATTRIBUTE <= set(a) for a in road["attributes"])
    kind = attributes["service_code"]
    assert (kind["datatype"], kind["required"], kind["description"]) == ("singlevaluelist", True, "Kind of damage")
    assert kind["values"][:2] == [{"key": "pothole", "name": "Pothole"}, {"key": "crack", "name": "Crack"}]
    assert attributes["hazard"]["datatype"] == "singlevaluelist" and not attributes["hazard"]["required"]
    assert attributes["hazard"]["values"] == [{"key": "true", "name": "Yes"}, {"key": "false", "name": "No"}]
    ja = {a["code"]: a for a in client.get("/open311/v2/services/road-damage.json").json()["attributes"]}
    assert ja["service_code"]["description"] == "損傷の種類"
    assert ja["service_code"]["values"][0] == {"key": "pothole", "name": "穴・くぼみ"}
    assert [v["name"] for v in ja["hazard"]["values"]] == ["はい", "いいえ"]

    snow = client.get("/open311/v2/services/snow-removal.json").json()
    depth = next(a for a in snow["attributes"] if a["code"] == "snow_depth_cm")
    assert (depth["datatype"], depth["required"]) == ("number", True)

    assert "no service" in _error(client.get("/open311/v2/services/moving-in.json"), 404)  # not a civic procedure


def test_a_report_from_an_app_is_held_for_review_and_answered_with_a_token(client, runtime, api_key, post_report):
    response = post_report(pothole(api_key), photos=[("pothole.png", PNG, "image/png")])
    assert response.status_code == 201, response.text
    [posted] = response.json()
    assert posted["service_request_id"] is None and posted["token"].startswith("tok_")

    [token] = client.get(f"/open311/v2/tokens/{posted['token']}.json").json()
    assert token == {"token": posted["token"], "service_request_id": None}
    assert client.get("/open311/v2/requests.json").json() == []  # unverified: public only after review
    with runtime.sessions() as session:
        report = session.scalars(select(CivicReport)).one()
        application = session.get(Application, report.application_id)
        assert (report.verified, report.listed, report.photo_count) == (False, False, 1)
        assert application.procedure_code == "road-damage" and application.status == "submitted"
        # due like any e-application: the end of the city business day the procedure's deadline falls on
        deadline_days = applications.catalog(runtime).get("road-damage").deadline_days
        due = runtime.settings.clock.due_after(application.submitted_at, deadline_days)
        assert application.due_at == due
        # the point, the description and the photo are sealed; the row keeps only the grid cell
        assert b"\xe7\xa9\xb4" not in application.form_blob  # 穴
        assert (report.cell_lat, report.cell_long) != DAISHOJI
        assert abs(report.cell_lat - DAISHOJI[0]) < 0.001 and abs(report.cell_long - DAISHOJI[1]) < 0.001
        assert report.district == "daishoji"


def test_a_linked_residents_report_is_public_at_once_without_who_or_where_exactly(client, runtime, make_resident,
                                                                                   post_report):
    resident = make_resident()
    fields = pothole(None, email="hanako@example.jp", first_name="花子")
    response = post_report(fields, headers=resident.headers)
    assert response.status_code == 201, response.text
    [posted] = response.json()
    assert posted["service_request_id"].startswith("sr_")

    listed = client.get("/open311/v2/requests.json").json()
    assert [r["service_request_id"] for r in listed] == [posted["service_request_id"]]
    [one] = client.get(f"/open311/v2/requests/{posted['service_request_id']}.json").json()
    assert one == listed[0]
    assert SPEC_REQUEST <= set(one)
    assert one["status"] == "open" and one["service_code"] == "road-damage" and one["verified_reporter"]
    assert one["description"] is None and one["media_url"] is None and one["address"] is None
    assert (one["lat"], one["long"]) != DAISHOJI
    text = json.dumps(listed, ensure_ascii=False)
    for secret in (resident.address, resident.address.lower(), "hanako", "花子", "大聖寺駅前", "穴"):
        assert secret not in text
    with runtime.sessions() as session:
        assert session.scalars(select(Application)).one().applicant == "0x" + "00" * 20  # wallet only sealed


def test_requests_filters(client, make_resident, post_report):
    resident = make_resident()
    road = post_report(pothole(None), headers=resident.headers).json()[0]["service_request_id"]
    snow = post_report({"service_code": "snow-removal", "lat": str(YAMANAKA[0]), "long": str(YAMANAKA[1]),
                        "attribute[service_code]": "road", "attribute[snow_depth_cm]": "40"},
                       headers=resident.headers).json()[0]["service_request_id"]

    def ids(**params: str) -> list[str]:
        response = client.get("/open311/v2/requests.json", params=params)
        assert response.status_code == 200, response.text
        return [r["service_request_id"] for r in response.json()]

    assert ids() == [snow, road]
    assert ids(service_code="snow-removal") == [snow]
    assert ids(service_request_id=f"{road},{snow}") == [snow, road]
    assert ids(status="open") == [snow, road] and ids(status="closed") == []
    assert ids(start_date="2000-01-01T00:00:00Z", end_date="2000-02-01T00:00:00Z") == []
    assert ids(start_date="2000-01-01T00:00:00+09:00") == [snow, road]
    assert "status" in _error(client.get("/open311/v2/requests.json", params={"status": "fixed"}), 400)
    assert _error(client.get("/open311/v2/requests.json", params={"start_date": "yesterday"}), 400)
    assert _error(client.get("/open311/v2/requests/sr_000000000000000000000000.json"), 404)
    assert _error(client.get("/open311/v2/tokens/tok_nope.json"), 404)


def test_bad_reports_get_open311_errors_and_store_nothing(client, runtime, api_key, post_report):
    posting = post_report
    from procedures import ratelimit

    def post_report(*args, **kwargs):  # each refusal on its own: the burst limit is tested below
        ratelimit.reset()
        return posting(*args, **kwargs)

    before = _reports(runtime)
    assert "api_key" in _error(post_report(pothole(None)), 403)
    assert "api_key" in _error(post_report(pothole("o311_notakeyatallnotakeyatall")), 403)
    assert "outside the city" in _error(post_report(pothole(api_key, lat="35.6812", long="139.7671")), 400)  # Tokyo
    # in the bounding box but off the outline: the sea north of Katayamazu
    assert "outside the city" in _error(post_report(pothole(api_key, lat="36.368", long="136.455")), 400)
    assert "lat" in _error(post_report(pothole(api_key, lat="")), 400)
    assert "number" in _error(post_report(pothole(api_key, lat="north")), 400)
    assert "service" in _error(post_report(pothole(api_key, service_code="moving-in")), 400)
    assert "attribute[colour]" in _error(post_report(pothole(api_key, **{"attribute[colour]": "red"})), 400)
    assert "must be one of" in _error(post_report(pothole(api_key, **{"attribute[service_code]": "ufo"})), 400)
    assert "not a image/png" in _error(post_report(pothole(api_key), photos=[("x.png", b"GIF89a" + b"0" * 64,
                                                                             "image/png")]), 400)
    assert "not accepted" in _error(post_report(pothole(api_key), photos=[("x.gif", b"GIF89a", "image/gif")]), 400)
    big = JPEG + b"0" * 5_000_001
    assert "bytes" in _error(post_report(pothole(api_key), photos=[("big.jpg", big, "image/jpeg")]), 400)
    huge = JPEG + b"0" * (17 * 1024 * 1024)
    assert "at most" in _error(post_report(pothole(api_key), photos=[("huge.jpg", huge, "image/jpeg")]), 413)
    assert "description: this field is required" in _error(post_report(pothole(api_key, description="")), 400)
    assert "attribute[service_code]" in _error(post_report(pothole(api_key, **{"attribute[service_code]": ""})), 400)
    assert "My Number" in _error(post_report(pothole(api_key, description="個人番号 123456789018 です")), 400)
    assert _reports(runtime) == before


def test_a_burst_from_one_address_or_one_key_is_refused(client, runtime, settings, api_key, post_report):
    per_address = settings.civic_posts_per_minute_per_address
    for _ in range(per_address):
        assert post_report(pothole(api_key)).status_code == 201
    before = _reports(runtime)
    response = post_report(pothole(api_key))
    assert "too many" in _error(response, 429) and int(response.headers["Retry-After"]) > 0
    assert _reports(runtime) == before


def test_a_key_is_limited_across_addresses(client, runtime, settings, api_key, post_report):
    from procedures import ratelimit
    from procedures.civic import keys

    with runtime.sessions() as session:
        key = keys.resolve_key(session, settings, api_key)
    for _ in range(settings.civic_posts_per_minute_per_key):  # the key's reports from many other addresses
        ratelimit.limit_for("open311.key", key.id, settings.civic_posts_per_minute_per_key)
    before = _reports(runtime)
    assert "too many" in _error(post_report(pothole(api_key)), 429)  # this address has not posted yet
    assert _reports(runtime) == before
